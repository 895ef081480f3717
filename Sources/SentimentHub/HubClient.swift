// Hugging Face hub downloads land here (see the hub helper's work).
enum SentimentHubNamespace {}
