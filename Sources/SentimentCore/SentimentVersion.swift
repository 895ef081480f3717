/// The product's version, one constant: `sentimentd --version`, `sentimentctl --version`, the daemon's `status`
/// answer and the Debian packages (scripts/package-deb.sh reads the literal below: keep it one plain string on one
/// line, a native Debian version: digits, letters, `.`, `+`, `~`, no `-`).
public enum SentimentVersion {
    public static let current = "0.2.0"
}
