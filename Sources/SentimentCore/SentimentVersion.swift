/// The product's version, one constant: `sentimentd --version`, `sentimentctl --version`, the daemon's `status`
/// answer and the package all read it.
public enum SentimentVersion {
    public static let current = "0.1.0"
}
