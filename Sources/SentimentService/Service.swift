import SentimentML
enum SentimentServiceNamespace {}
