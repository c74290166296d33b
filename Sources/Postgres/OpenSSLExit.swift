#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// libpq uses the system's OpenSSL, which by default frees its global state from an
/// `atexit` handler. A process that exits while another of its threads still touches
/// OpenSSL (a worker winding down, a thread-local destructor) then crashes on its way out:
/// seen once in CI as `provisionctl` ending with SIGSEGV in `pthread_rwlock_rdlock`, with
/// another thread inside libssl. `OPENSSL_INIT_NO_ATEXIT` asks OpenSSL not to register that
/// handler; the kernel reclaims everything at exit anyway. Found by name, so that building
/// needs no OpenSSL headers; when the library or the symbol is absent nothing happens.
enum OpenSSLExit {
    /// `OPENSSL_INIT_NO_ATEXIT` of OpenSSL 1.1.1 and 3.
    static let noAtExit: UInt64 = 0x0008_0000

    /// Done once, before the first connection initialises OpenSSL.
    static let settled: Void = {
        guard let symbol = dlsym(nil, "OPENSSL_init_crypto") else { return }
        typealias Initialise = @convention(c) (UInt64, UnsafeRawPointer?) -> Int32
        _ = unsafeBitCast(symbol, to: Initialise.self)(noAtExit, nil)
    }()
}
