print("sentimentd")
