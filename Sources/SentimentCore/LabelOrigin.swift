import Foundation

/// Which split a label belongs to. The eval split is frozen: it is only ever used to compare models. One type for
/// the store's rows and the wire (`labels.list`'s filter and answers), which both import this module.
public enum LabelSplit: String, Codable, Sendable, CaseIterable {
    case train
    case eval
}

/// Where a stored label's current value came from; the store's rows and the wire alike.
public enum LabelSource: String, Codable, Sendable, CaseIterable {
    /// `labels.add` (sentimentctl label).
    case add
    /// A committed import (sentimentctl import).
    case `import`
}
