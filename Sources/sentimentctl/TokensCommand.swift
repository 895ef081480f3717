import ArgumentParser
import Foundation
import SentimentProtocol

/// `sentimentctl tokens add|list|revoke`: bearer tokens for the HTTP API over TCP (admin, over the Unix socket).
struct TokensCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens",
        abstract: "Bearer tokens for the HTTP API over TCP (admin).",
        discussion: "A token carries a role (reader, labeller, admin) like a peer on the socket. Only its hash is "
            + "kept: the token is printed once, by `add`.",
        subcommands: [Add.self, List.self, Revoke.self]
    )

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a token and print it (once: it cannot be shown again).")

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        @Option(name: .long, help: ArgumentHelp("The token's role: reader, labeller or admin.", valueName: "role"))
        var role: Role

        @Option(name: .long, help: ArgumentHelp("A name to tell it apart (unique among live tokens).", valueName: "name"))
        var name: String?

        func run() throws {
            try output.show(TokensAddMethod.self, .init(role: role, name: name), via: connection) { result in
                print(result.token)
                FileHandle.standardError.write(Data(("token \(result.summary.id) (\(result.summary.name), "
                    + "\(result.summary.role)): shown once; send it as `Authorization: Bearer <token>`\n").utf8))
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tokens (never their secrets).")

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            try output.show(TokensListMethod.self, NoParams(), via: connection) { result in
                var table = TextTable(["ID", "NAME", "ROLE", "CREATED", "BY UID", "REVOKED"])
                let format = ISO8601DateFormatter()
                for t in result.tokens {
                    table.add([t.id, t.name, t.role.rawValue, format.string(from: t.createdAt), String(t.createdByUID),
                               t.revokedAt.map { format.string(from: $0) } ?? "-"])
                }
                print(table.render())
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by its id or name; it stops working at once.")

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: OutputOptions

        @Argument(help: ArgumentHelp("The token's id or name, as `tokens list` shows it.", valueName: "token"))
        var token: String

        func run() throws {
            try output.show(TokensRevokeMethod.self, .init(token: token), via: connection) { result in
                print("revoked \(result.id) (\(result.name), \(result.role))")
            }
        }
    }
}

extension Role: ExpressibleByArgument {}
