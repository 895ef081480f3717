import Foundation
import Logging
import ServiceLifecycle
import XCTest
@testable import SentimentService

/// The daemon's start-up and shutdown order (`ServiceSequence`): list order to start, each part after the one
/// before it has started; the reverse to stop; a failure or a shutdown during start-up starts nothing more.
final class ServiceSequenceTests: XCTestCase {
    private let events = LockedBox<[String]>([])

    /// A part that records its start and stop. `gate` (when set) holds its start until opened; `holdUntilShutdown`
    /// holds it until the group asks this part to shut down (a slow start-up that a SIGTERM interrupts); `failure`
    /// makes it throw.
    private struct Part: DaemonService {
        let name: String
        let events: LockedBox<[String]>
        var gate: Gate?
        var holdUntilShutdown = false
        var failure: Error?

        func start() async throws {
            events.withLock { $0.append("start \(name)") }
            if let gate { await gate.wait() }
            if holdUntilShutdown {
                let shutdown = Gate()
                await withGracefulShutdownHandler { await shutdown.wait() } onGracefulShutdown: { shutdown.open() }
            }
            if let failure { throw failure }
            events.withLock { $0.append("started \(name)") }
        }

        func stop() async {
            events.withLock { $0.append("stop \(name)") }
        }
    }

    private struct StartFailed: Error, Equatable {}

    private func part(_ name: String, gate: Gate? = nil, holdUntilShutdown: Bool = false, failure: Error? = nil) -> Part {
        Part(name: name, events: events, gate: gate, holdUntilShutdown: holdUntilShutdown, failure: failure)
    }

    private func group(_ parts: [Part]) -> ServiceGroup {
        ServiceSequence(parts: parts).makeGroup(logger: Logger(label: "test"), handlingSignals: false)
    }

    /// Polls `events` until `done` holds (deadline: 60 s, for a loaded machine).
    private func waitForEvents(_ what: String, _ done: ([String]) -> Bool) throws {
        let deadline = Date().addingTimeInterval(60)
        while !done(events.value) {
            guard Date() < deadline else {
                XCTFail("\(what): not seen within 60 s; events: \(events.value)")
                throw CancellationError()
            }
            usleep(2_000)
        }
    }

    func testParts_startInListOrder_eachAfterThePreviousStarted_andStopInReverse() async throws {
        let gate = Gate()
        let group = group([part("a", gate: gate), part("b"), part("c")])
        let run = Task { try await group.run() }
        try waitForEvents("a starting") { $0.contains("start a") }
        gate.open()
        try waitForEvents("all started") { $0.contains("started c") }
        await group.triggerGracefulShutdown()
        try await run.value
        XCTAssertEqual(events.value, ["start a", "started a", "start b", "started b", "start c", "started c",
                                      "stop c", "stop b", "stop a"])
    }

    func testAFailingStart_stopsThePartsBeforeItInReverse_andNothingAfterItStarts() async throws {
        let group = group([part("a"), part("b"), part("c", failure: StartFailed()), part("d")])
        do {
            try await group.run()
            XCTFail("the group should end with the start's error")
        } catch {
            XCTAssertEqual(error as? StartFailed, StartFailed())
        }
        XCTAssertEqual(events.value, ["start a", "started a", "start b", "started b", "start c", "stop b", "stop a"])
    }

    func testShutdownDuringAStart_letsThatStartFinish_startsNothingAfterIt_andStopsInReverse() async throws {
        let group = group([part("a"), part("b", holdUntilShutdown: true), part("c")])
        let run = Task { try await group.run() }
        try waitForEvents("b starting") { $0.contains("start b") }
        await group.triggerGracefulShutdown()
        try await run.value
        XCTAssertEqual(events.value, ["start a", "started a", "start b", "started b", "stop b", "stop a"])
    }
}

/// Holds whoever waits until `open()`.
private final class Gate: @unchecked Sendable {
    private let lock = NSLock()
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func wait() async {
        await withCheckedContinuation { continuation in
            lock.lock()
            if isOpen {
                lock.unlock()
                continuation.resume()
            } else {
                waiters.append(continuation)
                lock.unlock()
            }
        }
    }

    func open() {
        lock.lock()
        isOpen = true
        let all = waiters
        waiters = []
        lock.unlock()
        all.forEach { $0.resume() }
    }
}
