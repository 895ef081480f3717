print("sentimentctl")
