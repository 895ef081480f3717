import Foundation
import XCTest

/// ARCHITECTURE.md stays true: every path it names exists, every module of `Sources/` has its row in the module
/// table and imports only what that row allows, and the built `sentimentctl` does not link OpenBLAS.
///
/// What counts as a path: a backticked span with a `/` in it (`Sources/SentimentCore/AtomicFile.swift`, `Kernels/`,
/// `.ci/run`), found at the repository root or as the tail of a path in the repository (a folder named inside its
/// module's row); and a backticked file name with a source-tree extension (`AtomicFile.swift`), found anywhere in
/// the repository. Paths that exist only at run time (the models directory's staging folder) are written without
/// backticks.
final class ArchitectureTests: XCTestCase {
    static let root = TestPaths.repositoryRoot

    /// Modules of the platform, which any module may import.
    static let platformModules: Set<String> = [
        "Foundation", "FoundationNetworking", "FoundationEssentials", "Dispatch", "Glibc", "Musl", "Darwin",
        "Synchronization",
    ]
    static let fileExtensions: Set<String> = ["swift", "sh", "md", "c", "h", "py", "conf", "service", "socket",
                                              "sysusers", "tmpfiles"]

    func testEveryPathNamedInArchitectureExists() throws {
        let text = try Self.architecture()
        let (paths, names) = Self.repositoryPaths()
        var missing: [String] = []
        var checked = 0
        for span in Self.backtickedSpans(text) {
            guard !span.contains(" "), !span.hasPrefix("-") else { continue }
            let path = span.hasSuffix("/") ? String(span.dropLast()) : span
            if path.contains("/") {
                checked += 1
                if !paths.contains(path) && !paths.contains(where: { $0.hasSuffix("/" + path) }) { missing.append(span) }
            } else if let ext = path.split(separator: ".").last, path.contains("."), Self.fileExtensions.contains(String(ext)) {
                checked += 1
                if !names.contains(path) { missing.append(span) }
            }
        }
        XCTAssertGreaterThan(checked, 50, "ARCHITECTURE.md names far fewer paths than expected: did the extraction break?")
        XCTAssertEqual(missing, [], """
            ARCHITECTURE.md names paths that are not in the repository: \(missing.joined(separator: ", ")). \
            Fix the document (a file was moved, renamed or removed) so that a newcomer following it lands somewhere.
            """)
    }

    func testEveryModuleImportsOnlyWhatTheModuleTableAllows() throws {
        let table = try Self.moduleTable(Self.architecture())
        let sources = Self.root.appendingPathComponent("Sources")
        let modules = try FileManager.default.contentsOfDirectory(atPath: sources.path).filter { !$0.hasPrefix(".") }.sorted()
        XCTAssertTrue(modules.contains("SentimentCore") && modules.contains("sentimentctl"), "Sources/ not found at \(sources.path)")
        var problems: [String] = []
        for module in modules {
            guard let allowed = table[module] else {
                problems.append("Sources/\(module) has no row in ARCHITECTURE.md's module table (what it owns, what it may import)")
                continue
            }
            let folder = sources.appendingPathComponent(module)
            for file in Self.swiftFiles(under: folder) {
                let source = try String(contentsOf: file, encoding: .utf8)
                for imported in Self.imports(in: source) where imported != module {
                    if !allowed.contains(imported) && !Self.platformModules.contains(imported) {
                        let relative = file.path.replacingOccurrences(of: Self.root.path + "/", with: "")
                        problems.append("\(relative) imports \(imported), which the row of \(module) does not allow")
                    }
                }
            }
        }
        XCTAssertEqual(problems, [], """
            The module graph in ARCHITECTURE.md and the code disagree. Either the import is an arrow the design does \
            not want (remove it), or the design changed: then change the module's row in ARCHITECTURE.md (and the \
            target's dependencies in Package.swift) in the same commit.
            """)
    }

    /// The services table lists the daemon's parts in the order `Daemon.makeServices` starts them.
    func testServicesTableMatchesTheStartUpOrderInTheCode() throws {
        let daemonFolder = Self.root.appendingPathComponent("Sources/SentimentService/Daemon")
        let daemon = try String(contentsOf: daemonFolder.appendingPathComponent("Daemon.swift"), encoding: .utf8)
        guard let start = daemon.range(of: "func makeServices("),
              let list = daemon.range(of: "return [", range: start.upperBound..<daemon.endIndex),
              let end = daemon.range(of: "\n        ]", range: list.upperBound..<daemon.endIndex) else {
            return XCTFail("Daemon.makeServices's `return [ ... ]` list was not found in Daemon.swift")
        }
        // Each part's name, from `let name = "..."` in the type that declares it.
        var names: [String: String] = [:]
        for file in Self.swiftFiles(under: Self.root.appendingPathComponent("Sources/SentimentService")) {
            let source = try String(contentsOf: file, encoding: .utf8)
            let declaration = try Regex(#"(?:struct|class) (\w+): DaemonService[^{]*\{\s*let name = "([^"]+)""#)
            for match in source.matches(of: declaration) {
                if let type = match.output[1].substring, let name = match.output[2].substring {
                    names[String(type)] = String(name)
                }
            }
        }
        let constructed = daemon[list.upperBound..<end.lowerBound].matches(of: try Regex(#"^\s*(\w+Service)\b"#).anchorsMatchLineEndings())
            .compactMap { $0.output[1].substring.map(String.init) }
        let inCode = constructed.map { names[$0] ?? "\($0) (no `let name`)" }
        let inDocument = try Self.architecture().split(separator: "\n").compactMap { line -> String? in
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4, Int(cells[0]) != nil else { return nil }
            return cells[1]
        }
        XCTAssertGreaterThan(inCode.count, 5, "the parts of Daemon.makeServices were not found")
        XCTAssertEqual(inDocument, inCode, """
            ARCHITECTURE.md's services table (first column: the order) lists other parts than Daemon.makeServices \
            starts, or in another order: update the table with the code.
            """)
    }

    /// The client stays thin (ARCHITECTURE.md, "sentimentctl never links BLAS"). The daemon's line shows the check
    /// sees a linked OpenBLAS when there is one.
    func testSentimentctlDoesNotLinkOpenBLAS_whileSentimentdDoes() throws {
        let ctl = try Self.linkedLibraries(of: TestPaths.executable("sentimentctl"))
        let daemon = try Self.linkedLibraries(of: TestPaths.executable("sentimentd"))
        XCTAssertTrue(daemon.contains { $0.contains("openblas") }, "sentimentd should link OpenBLAS; ldd says: \(daemon)")
        XCTAssertFalse(ctl.contains { $0.contains("blas") }, """
            sentimentctl links a BLAS library (\(ctl.filter { $0.contains("blas") })): a dependency of the model stack \
            reached the client. See ARCHITECTURE.md, "sentimentctl never links BLAS".
            """)
    }

    // MARK: reading the document and the tree

    static func architecture() throws -> String {
        try String(contentsOf: root.appendingPathComponent("ARCHITECTURE.md"), encoding: .utf8)
    }

    static func backtickedSpans(_ text: String) -> [String] {
        var spans: [String] = []
        var inFence = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") { inFence.toggle(); continue }
            if inFence { continue }
            let parts = line.split(separator: "`", omittingEmptySubsequences: false)
            // Odd-numbered parts are inside backticks.
            for (i, part) in parts.enumerated() where i % 2 == 1 && i < parts.count - 1 { spans.append(String(part)) }
        }
        return spans
    }

    /// Every file and folder of the repository (relative paths) and every file name, without build products,
    /// git's folder and what is git-ignored at the top.
    static func repositoryPaths() -> (paths: Set<String>, names: Set<String>) {
        let skipped: Set<String> = [".build", ".git", ".swiftpm", "vendor-models", "venv", ".venv", "var", "dist"]
        var paths: Set<String> = [], names: Set<String> = []
        let fm = FileManager.default
        var stack = [""]
        while let dir = stack.popLast() {
            let url = dir.isEmpty ? root : root.appendingPathComponent(dir)
            guard let entries = try? fm.contentsOfDirectory(atPath: url.path) else { continue }
            for entry in entries {
                if dir.isEmpty && (skipped.contains(entry) || entry.hasPrefix(".build")) { continue }
                let relative = dir.isEmpty ? entry : dir + "/" + entry
                paths.insert(relative)
                names.insert(entry)
                var isDirectory: ObjCBool = false
                if fm.fileExists(atPath: url.appendingPathComponent(entry).path, isDirectory: &isDirectory), isDirectory.boolValue {
                    stack.append(relative)
                }
            }
        }
        return (paths, names)
    }

    /// The module table's rows: `| \`Sources/X\` | owns | may import |` -> X: the modules in the last column.
    static func moduleTable(_ text: String) -> [String: Set<String>] {
        var table: [String: Set<String>] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| `Sources/") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard cells.count >= 4 else { continue }
            let module = cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`")).replacingOccurrences(of: "Sources/", with: "")
            let allowed = cells[cells.count - 2].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("(") }
            table[module] = Set(allowed)
        }
        return table
    }

    static func swiftFiles(under folder: URL) -> [URL] {
        guard let walker = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil) else { return [] }
        return walker.compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
    }

    /// Module names of the file's import declarations (`import X`, `@preconcurrency import X`, `package import X`,
    /// `import struct X.Y`).
    static func imports(in source: String) -> [String] {
        let kinds: Set<String> = ["class", "struct", "enum", "protocol", "func", "typealias", "var", "let"]
        let attributes: Set<String> = ["public", "package", "internal", "private", "fileprivate"]
        var modules: [String] = []
        for line in source.split(separator: "\n") {
            // A declaration is the whole line (a trailing comment aside): prose in a string that starts with
            // "import" is not one.
            let code = line.range(of: "//").map { line[..<$0.lowerBound] } ?? line[...]
            var words = code.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            while let first = words.first, first.hasPrefix("@") || attributes.contains(first) { words.removeFirst() }
            guard words.first == "import" else { continue }
            let name: String
            if words.count == 2 {
                name = words[1]
            } else if words.count == 3, kinds.contains(words[1]) {
                name = words[2]
            } else {
                continue
            }
            modules.append(String(name.split(separator: ".").first ?? Substring(name)))
        }
        return modules
    }

    static func linkedLibraries(of executable: URL) throws -> [String] {
        let ldd = try runProgram(URL(fileURLWithPath: "/usr/bin/ldd"), [executable.path])
        XCTAssertEqual(ldd.status, 0, "ldd \(executable.path) failed: \(ldd.err)")
        return ldd.out.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
    }
}
