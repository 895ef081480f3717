import Foundation

/// Where the committed fixtures are (`Tests/Fixtures`, written by the scripts under tools/), and the paths next to
/// the repository that some tests read when present. One place for the test targets of the model modules.
package enum TestFixtures {
    /// The repository root.
    package static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// Tests/Fixtures: models/, lora/, tokenizer/, checkpoint/.
    package static let root = repositoryRoot.appendingPathComponent("Tests/Fixtures", isDirectory: true)

    /// The shared data (`SharedData`: SENTIMENTD_SHARED_DATA; absent on a user's machine).
    package static var sharedData: URL { SharedData.folder }

    /// vendor-models/all-MiniLM-L6-v2 (fetched by scripts/fetch-minilm.sh; git-ignored).
    package static let vendorMiniLM = repositoryRoot.appendingPathComponent("vendor-models/all-MiniLM-L6-v2")
}
