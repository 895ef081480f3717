// SQLite schema and queries land here (labels, runs, model versions, activations).
enum SentimentStoreNamespace {}
