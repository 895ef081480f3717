import Foundation
import Logging
@testable import SentimentService
import XCTest

final class ObservabilityTests: XCTestCase {
    func testJournalFieldNames_areUpperCaseSafeAndNeverTrusted() {
        XCTAssertEqual(JournaldLogHandler.fieldName("model_version"), "MODEL_VERSION")
        XCTAssertEqual(JournaldLogHandler.fieldName("peer-uid"), "PEER_UID")
        XCTAssertEqual(JournaldLogHandler.fieldName("_PID"), "PID", "a leading underscore would forge a trusted field")
        XCTAssertEqual(JournaldLogHandler.fieldName("message"), "META_MESSAGE", "metadata cannot replace MESSAGE")
        XCTAssertNil(JournaldLogHandler.fieldName("1abc"))
        XCTAssertNil(JournaldLogHandler.fieldName("___"))
        XCTAssertEqual(JournaldLogHandler.fieldName(String(repeating: "a", count: 100))?.count, 64)
    }

    func testJournalPriorities_followSyslog() {
        XCTAssertEqual(JournaldLogHandler.priority(.critical), 2)
        XCTAssertEqual(JournaldLogHandler.priority(.error), 3)
        XCTAssertEqual(JournaldLogHandler.priority(.warning), 4)
        XCTAssertEqual(JournaldLogHandler.priority(.notice), 5)
        XCTAssertEqual(JournaldLogHandler.priority(.info), 6)
        XCTAssertEqual(JournaldLogHandler.priority(.debug), 7)
    }

    func testJournalStream_isUsedOnlyWhenItNamesOurStderr() {
        XCTAssertFalse(Systemd.stderrIsJournal(environment: [:]))
        XCTAssertFalse(Systemd.stderrIsJournal(environment: ["JOURNAL_STREAM": "garbage"]))
        var st = stat()
        XCTAssertEqual(fstat(2, &st), 0)
        let ours = "\(st.st_dev):\(st.st_ino)"
        XCTAssertTrue(Systemd.stderrIsJournal(environment: ["JOURNAL_STREAM": ours]))
        XCTAssertFalse(Systemd.stderrIsJournal(environment: ["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino + 1)"]))
    }

    func testWatchdog_pingsOnlyWhileBothServingLoopsBeat() {
        let pings = LockedBox(0)
        let dog = ServingWatchdog(interval: .milliseconds(400), ping: { pings.withLock { $0 += 1 } })
        XCTAssertEqual(dog.beatInterval, .milliseconds(100))
        // Both loops alive: the batcher's beats ping, at most once per beat interval.
        for _ in 0..<6 {
            dog.eventLoopBeat()
            dog.batcherBeat()
            dog.batcherBeat()
            Thread.sleep(forTimeInterval: 0.11)
        }
        XCTAssertGreaterThanOrEqual(pings.value, 5)
        XCTAssertLessThanOrEqual(pings.value, 7)
        // The event loop stops beating (blocked): after half the interval, no more pings although the batcher beats.
        let before = pings.value
        Thread.sleep(forTimeInterval: 0.25)
        for _ in 0..<5 {
            dog.batcherBeat()
            Thread.sleep(forTimeInterval: 0.11)
        }
        XCTAssertEqual(pings.value, before)
        // The batcher stops beating (a wedged forward pass): nothing calls ping at all, by construction.
    }

    func testWatchdog_isSilentWhenSystemdDidNotAskForIt() {
        let pings = LockedBox(0)
        let dog = ServingWatchdog(interval: nil, ping: { pings.withLock { $0 += 1 } })
        dog.eventLoopBeat()
        dog.batcherBeat()
        XCTAssertEqual(pings.value, 0)
    }

    func testMetrics_renderPrometheusText() {
        let m = ServiceMetrics()
        m.requestFinished(method: "predict", outcome: "ok", seconds: 0.004)
        m.requestFinished(method: "predict", outcome: "overloaded", seconds: 0.0001)
        m.batchCompleted(size: 7, maxTokens: 20, seconds: 0.01)
        m.activeModelChanged(to: "v1")
        m.activeModelChanged(to: "v2")
        let text = m.render(queued: 3)
        XCTAssertTrue(text.contains(#"sentimentd_requests_total{method="predict",outcome="ok"} 1"#), text)
        XCTAssertTrue(text.contains(#"sentimentd_requests_total{method="predict",outcome="overloaded"} 1"#), text)
        XCTAssertTrue(text.contains(#"sentimentd_model_info{version="v1"} 0"#), text)
        XCTAssertTrue(text.contains(#"sentimentd_model_info{version="v2"} 1"#), text)
        XCTAssertTrue(text.contains("sentimentd_batch_size_sum 7"), text)
        XCTAssertTrue(text.contains("sentimentd_queued_texts 3"), text)
        XCTAssertTrue(text.contains("sentimentd_model_activations_total 2"), text)
    }
}
