import Foundation

/// What a caller may do. Each role includes the ones below it.
///
/// - `reader`: predict (with the active version, or a version already in memory), status, models.list, labels.stats,
///   runs.list, runs.show, metrics.
/// - `labeller`: adds labels.add and the labels.import.* methods. Their labels go to the training pool only: a
///   labeller never adds to, or changes, the frozen evaluation split the gate judges candidates on (unless the
///   daemon's configuration says `labels.trust_labellers = true`).
/// - `admin`: everything that changes what is served or what judges it: models.activate, rollback, reload, train,
///   train.cancel, labels.eval.draw, labels written into the evaluation split, predict with a version that is not in
///   memory.
///
/// Who holds which role is the daemon's configuration (`server.reader_group`, `labeller_group`, `admin_group`; uid 0
/// and the daemon's own uid are always admin). A method names the role it needs (`RPCMethod.requiredRole`).
public enum Role: String, Codable, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    case reader
    case labeller
    case admin

    private var rank: Int {
        switch self {
        case .reader: return 0
        case .labeller: return 1
        case .admin: return 2
        }
    }

    public static func < (a: Role, b: Role) -> Bool { a.rank < b.rank }

    /// Whether a caller holding `self` may call something that needs `needed`.
    public func includes(_ needed: Role) -> Bool { needed <= self }

    public var description: String { rawValue }
}

/// Where a caller's labels go when the call does not say (`split` of labels.add and labels.import.begin).
public enum LabelSplitChoice: String, Codable, Sendable, CaseIterable {
    /// Admins (and labellers when the configuration trusts them): each new text goes to the split its hash picks
    /// (`labels.eval_fraction` of them to the evaluation split). Untrusted labellers: the training split.
    case auto
    /// Every new text goes to the training split.
    case train
    /// Every new text goes to the frozen evaluation split (admin only).
    case eval
}
