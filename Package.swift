// swift-tools-version:6.2
//
// SEND Provision: provision mapping and management for a multi-academy trust.
// The module graph, layer by layer, is docs/architecture.md; `scripts/check-module-graph`
// (run by scripts/test) holds these dependencies to it: every import declared, every
// declared dependency used, nothing depending on a module in its own layer or above.
//
// `Plugins/` holds the product's importer plugins (DESIGN §4), not SwiftPM package plugins:
// no `.plugin` targets are declared here, and each plugin's `plugin.toml` is excluded from
// its executable target.
import PackageDescription

// Our own targets build with every warning an error (a shipped daemon's CI does); the
// dependencies' warnings are theirs. Tools 6.2 for `isolated deinit` and this setting.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "send-provision",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "provisiond", targets: ["provisiond"]),
        .executable(name: "provisionctl", targets: ["provisionctl"]),
        .executable(name: "import-ctf", targets: ["import-ctf"]),
        .executable(name: "import-mis-csv", targets: ["import-mis-csv"]),
        .executable(name: "import-provision-map", targets: ["import-provision-map"]),
        .executable(name: "import-plans", targets: ["import-plans"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        // libpq through a module map; nothing but `Postgres` imports it.
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .target(name: "Postgres", dependencies: ["CLibPQ", "ProvisionModel"], swiftSettings: strict),
        .target(
            name: "ProvisionModel", dependencies: [.product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        // TOML files read with file:line:key diagnostics: what the configuration, plugin
        // manifests and the mis-csv plugin's mappings share (a plugin links this, never the
        // daemon's configuration schema).
        .target(
            name: "ProvisionTOML",
            dependencies: [.product(name: "TOMLKit", package: "TOMLKit")],
            swiftSettings: strict
        ),
        .target(
            name: "ProvisionConfig",
            dependencies: ["ProvisionTOML", "ProvisionModel"],
            swiftSettings: strict
        ),
        .target(
            name: "ProvisionStore",
            dependencies: [
                "Postgres", "ProvisionConfig", "ProvisionModel",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ProvisionImport",
            dependencies: [
                "Postgres", "ProvisionConfig", "ProvisionModel", "ProvisionStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: strict
        ),
        // What the built-in importer plugins share: protocol writing, CSV, dates, vocabularies.
        .target(
            name: "ImporterKit",
            dependencies: ["ProvisionModel"],
            swiftSettings: strict
        ),
        // The built-in importer plugins (DESIGN §4): separate executables the supervisor runs
        // like any other plugin. Their plugin.toml is excluded; see the note at the top.
        .executableTarget(
            name: "import-ctf",
            dependencies: ["ImporterKit", "ProvisionModel"],
            path: "Plugins/ctf",
            exclude: ["plugin.toml", "fixtures"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "import-mis-csv",
            dependencies: ["ImporterKit", "ProvisionModel", "ProvisionTOML"],
            path: "Plugins/mis-csv",
            exclude: ["plugin.toml", "fixtures"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "import-provision-map",
            dependencies: ["ImporterKit", "ProvisionModel"],
            path: "Plugins/provision-map",
            exclude: ["plugin.toml", "fixtures"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "import-plans",
            dependencies: ["ImporterKit", "ProvisionModel"],
            path: "Plugins/plans",
            exclude: ["plugin.toml", "fixtures"],
            swiftSettings: strict
        ),
        // The console's accounts (issue 17): users and roles, bcrypt passwords, TOTP second
        // factors, sessions, API tokens, login throttling and the audit log, as rows.
        .target(
            name: "ProvisionAccounts",
            dependencies: [
                "Postgres", "ProvisionModel",
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "HummingbirdOTP", package: "hummingbird-auth"),
            ],
            swiftSettings: strict
        ),
        // Support plans and reviews (issue 18): versions, targets, reviews, shares, as rows
        // that are only ever added.
        .target(
            name: "ProvisionPlans",
            dependencies: ["Postgres", "ProvisionModel"],
            swiftSettings: strict
        ),
        // Evaluation (DESIGN §6): outcomes, verdicts and flags, mostly in set-based SQL.
        .target(
            name: "ProvisionEvaluation",
            dependencies: [
                "Postgres", "ProvisionConfig", "ProvisionModel",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Alerts from flags (DESIGN §7); mail will join it.
        .target(
            name: "ProvisionAlerts",
            dependencies: [
                "Postgres", "ProvisionConfig", "ProvisionModel", "ProvisionEvaluation",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
        // Reports (DESIGN §8): provision map, impact, needs, costs, pupil, trust as HTML/CSV/JSON.
        .target(
            name: "ProvisionReports",
            dependencies: ["Postgres", "ProvisionConfig", "ProvisionModel", "ProvisionPlans"],
            swiftSettings: strict
        ),
        // The synthetic trust generator: demo, test and benchmark data, never real pupils.
        .target(
            name: "SampleTrust",
            dependencies: ["ProvisionModel"],
            swiftSettings: strict
        ),
        // What both executables share: error reporting with sysexits codes, database lifetime.
        .target(
            name: "ProvisionApp",
            dependencies: [
                "Postgres", "ProvisionConfig", "ProvisionStore", "ProvisionEvaluation", "ProvisionAlerts", "ProvisionImport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // The job queue and the schedules (DESIGN §2): rows in PostgreSQL, claimed with
        // FOR UPDATE SKIP LOCKED; cron expressions in local time. Used by the daemon and by
        // `provisionctl status`, so it carries no server dependencies.
        .target(
            name: "ProvisionJobs",
            dependencies: [
                "Postgres", "ProvisionModel", "ProvisionConfig",
            ],
            swiftSettings: strict
        ),
        // The SENCOs' console: pages and the JSON API on Hummingbird, behind the accounts'
        // sessions and tokens, with authorisation decided in one place (Access).
        .target(
            name: "ProvisionConsole",
            dependencies: [
                "Postgres", "ProvisionConfig", "ProvisionModel", "ProvisionStore", "ProvisionAccounts",
                "ProvisionAlerts", "ProvisionReports", "ProvisionImport", "ProvisionJobs", "ProvisionPlans",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The daemon's long-running services: scheduler, workers, mailer, rescuer, the
        // operations endpoint and configuration reloads, run under swift-service-lifecycle.
        .target(
            name: "ProvisionSupervisor",
            dependencies: [
                "ProvisionJobs", "Postgres", "ProvisionConfig", "ProvisionStore", "ProvisionImport", "ProvisionApp",
                "ProvisionAlerts", "ProvisionModel", "ProvisionReports", "ProvisionConsole",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "provisionctl",
            dependencies: [
                "ProvisionApp", "Postgres", "ProvisionConfig", "ProvisionStore", "ProvisionImport", "SampleTrust",
                "ProvisionEvaluation", "ProvisionAlerts", "ProvisionJobs", "ProvisionReports", "ProvisionModel",
                "ProvisionAccounts",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "provisiond",
            dependencies: [
                "ProvisionApp", "ProvisionSupervisor", "ProvisionConfig", "ProvisionStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        // zlib, for the tests' PNG reader only.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // Shared by every test suite: starts one real PostgreSQL per test run.
        .target(
            name: "ProvisionTestSupport",
            dependencies: [
                "Postgres", "ProvisionStore", "ProvisionModel", "CZlib",
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "PostgresTests",
            dependencies: ["Postgres", "ProvisionTestSupport"]
        ),
        // Unit tests, one target per module: no database, no spawned programs, so a change to
        // a module runs its own tests in seconds (`scripts/test --unit`).
        .testTarget(name: "ProvisionModelUnitTests", dependencies: ["ProvisionModel"]),
        .testTarget(name: "ProvisionConfigUnitTests", dependencies: ["ProvisionConfig"]),
        .testTarget(
            name: "ProvisionImportUnitTests",
            dependencies: ["ProvisionImport", "ProvisionModel", "ProvisionTestSupport"]
        ),
        .testTarget(name: "ImporterKitUnitTests", dependencies: ["ImporterKit", "ProvisionModel", "ProvisionTestSupport"]),
        .testTarget(name: "ProvisionEvaluationUnitTests", dependencies: ["ProvisionEvaluation", "ProvisionConfig"]),
        .testTarget(
            name: "ProvisionAlertsUnitTests",
            dependencies: [
                "ProvisionAlerts", "ProvisionTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        // Integration suites: a real PostgreSQL, real plugin processes, Postfix, Chromium.
        .testTarget(
            name: "ProvisionImportTests",
            dependencies: [
                "ProvisionImport", "ProvisionModel", "ProvisionStore", "ProvisionTestSupport", "Postgres", "provisionctl", "provisiond",
                "SampleTrust",
            ]
        ),
        .testTarget(
            name: "ImporterTests",
            dependencies: [
                "ProvisionImport", "ProvisionStore", "ProvisionTestSupport", "Postgres", "SampleTrust", "provisionctl",
                "import-ctf", "import-mis-csv", "import-provision-map", "import-plans",
            ]
        ),
        .testTarget(
            name: "EvaluationTests",
            dependencies: [
                "ProvisionEvaluation", "ProvisionAlerts", "ProvisionPlans", "ProvisionReports", "ProvisionStore", "ProvisionConfig", "ProvisionModel", "ProvisionTestSupport",
                "Postgres",
                "provisionctl", "provisiond", "import-ctf", "import-mis-csv", "import-provision-map", "import-plans",
            ]
        ),
        .testTarget(
            name: "SampleTrustTests",
            dependencies: [
                "ProvisionTestSupport", "provisionctl", "provisiond",
                "import-ctf", "import-mis-csv", "import-provision-map", "import-plans",
            ]
        ),
        .testTarget(
            name: "SupervisorTests",
            dependencies: [
                "ProvisionSupervisor", "ProvisionJobs", "ProvisionStore", "ProvisionTestSupport", "Postgres", "ProvisionModel",
                "ProvisionConfig", "ProvisionImport",
                "provisionctl", "provisiond", "import-ctf", "import-mis-csv", "import-provision-map", "import-plans",
            ]
        ),
        .testTarget(
            name: "ReportTests",
            dependencies: [
                "ProvisionTestSupport", "Postgres", "ProvisionModel", "ProvisionStore", "ImporterKit",
                "provisionctl", "provisiond", "import-ctf", "import-mis-csv", "import-provision-map", "import-plans",
            ]
        ),
        .testTarget(
            name: "ConsoleTests",
            dependencies: [
                "ProvisionConsole", "ProvisionAccounts", "ProvisionConfig", "ProvisionStore", "ProvisionTestSupport",
                "Postgres", "ProvisionModel", "ProvisionImport",
                "provisionctl", "provisiond", "import-ctf", "import-mis-csv", "import-provision-map", "import-plans",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdOTP", package: "hummingbird-auth"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "ProvisionStoreTests",
            dependencies: ["ProvisionStore", "ProvisionTestSupport", "Postgres", "provisionctl", "provisiond"]
        ),
    ]
)

// The tests are held to the same standard: a warning in a test is often an expectation
// that cannot fail (an unused result, a `try?` that swallows the error).
for target in package.targets where target.type == .test {
    target.swiftSettings = strict
}
