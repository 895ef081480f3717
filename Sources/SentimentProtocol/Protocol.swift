// JSON-RPC envelope and method types shared by sentimentd and sentimentctl.
enum SentimentProtocolNamespace {}
