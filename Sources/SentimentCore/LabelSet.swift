import Foundation

/// The label names of a model (or of the daemon's `labels.names`) and the one rule by which a label as a person
/// or a file writes it becomes a class: `sentimentd finetune` reading a data file, and the daemon taking a label
/// from `sentimentctl label`, `import` or `labels.list`, resolve with this type, so a file reads the same through
/// both.
///
/// The rule: a class index (the number 2, or the text "2") within range; a name, compared case-insensitively
/// after trimming spaces (a name wins over the same text read as an index); and, for a three-class set, TweetEval's
/// `negative`/`neutral`/`positive` for classes 0/1/2 when the set does not name them itself (the guide's data
/// uses them with any three-class model).
public struct LabelSet: Sendable, Equatable {
    public let names: [String]
    public static let tweetEval = ["negative", "neutral", "positive"]

    public init(_ names: [String]) {
        precondition(!names.isEmpty, "a label set needs at least one label")
        self.names = names
    }

    public var count: Int { names.count }

    /// TweetEval's names this set also accepts (those of a three-class set that it does not use itself).
    private var aliases: [String] {
        guard names.count == 3 else { return [] }
        return Self.tweetEval.filter { alias in !names.contains(where: { $0.lowercased() == alias }) }
    }

    /// Every accepted spelling, for error messages.
    public var accepted: [String] {
        names.indices.map(String.init) + names + aliases
    }

    /// The class `value` stands for, or nil (`problem(_:)` says why).
    public func index(of value: LabelValue) -> Int? {
        switch value {
        case let .index(i): return names.indices.contains(i) ? i : nil
        case let .name(raw): return index(of: raw)
        }
    }

    /// The class a written label stands for, or nil.
    public func index(of raw: String) -> Int? {
        let s = raw.trimmingCharacters(in: .whitespaces)
        let lower = s.lowercased()
        if let i = names.firstIndex(where: { $0.lowercased() == lower }) { return i }
        if let i = Int(s) { return names.indices.contains(i) ? i : nil }
        if aliases.contains(lower), let i = Self.tweetEval.firstIndex(of: lower) { return i }
        return nil
    }

    /// Why `value` stands for no class ("unknown label ...", "label index 7 is out of range ...").
    public func problem(_ value: LabelValue) -> String {
        let known = names.joined(separator: ", ")
        if case let .index(i) = value {
            return "label index \(i) is out of range 0...\(names.count - 1) (\(known))"
        }
        let also = aliases.isEmpty ? "" : ", or \(aliases.joined(separator: ", "))"
        return "unknown label \(value) (known: \(known), or their indexes 0...\(names.count - 1)\(also))"
    }
}
