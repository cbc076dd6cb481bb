using System.Text.Json;

namespace Hfdl.Hub.Server;

/// <summary>
/// Throughput limits and injected faults, for <see cref="HubServerOptions.Faults"/> (every repo) or
/// <see cref="RepoSettings.Faults"/> (one repo, replacing the global ones). Everything is off by default.
/// Randomness comes from a <see cref="Random"/> seeded with <see cref="Seed"/>, and "first N" and "once per file"
/// faults use counters, so tests can rely on what happens.
/// <code>
/// Faults = HubFaults.None with
/// {
///     PerConnectionBytesPerSecond = 1_000_000,
///     DropConnection = new DropConnectionFault(AfterBytes: 100_000),          // once per file
///     ServerErrors = new StatusFault(503) { FirstRequests = 2 },
///     TooManyRequests = new RateLimitFault { FirstRequests = 1, RetryAfterSeconds = 1 },
/// }
/// </code>
/// </summary>
public sealed record HubFaults
{
    /// <summary>No limits, no faults.</summary>
    public static HubFaults None { get; } = new();

    /// <summary>Caps each connection's body throughput, in bytes per second.</summary>
    public long? PerConnectionBytesPerSecond { get; init; }

    /// <summary>Caps the body throughput of all connections together (one shared token bucket), in bytes per second.</summary>
    public long? GlobalBytesPerSecond { get; init; }

    /// <summary>Added before every response of the targeted routes (see <see cref="LatencyTargets"/>).</summary>
    public TimeSpan Latency { get; init; }

    /// <summary>Which routes get <see cref="Latency"/>; all by default.</summary>
    public FaultTargets LatencyTargets { get; init; } = FaultTargets.All;

    /// <summary>When set, only requests with this method (<c>HEAD</c>, say) get <see cref="Latency"/>.</summary>
    public string? LatencyMethod { get; init; }

    /// <summary>Overrides <see cref="HubServerOptions.SignedUrlLifetime"/>: signed CDN URLs expire after this.</summary>
    public TimeSpan? SignedUrlLifetime { get; init; }

    /// <summary>Cuts the connection part-way through a file body.</summary>
    public DropConnectionFault? DropConnection { get; init; }

    /// <summary>Stops sending part-way through a file body, for a while or until the client gives up.</summary>
    public StallFault? Stall { get; init; }

    /// <summary>Answers 500, 502 or 503 instead of the real response.</summary>
    public StatusFault? ServerErrors { get; init; }

    /// <summary>Accepts a request and never sends the response (no status line, no headers) until the client gives up.</summary>
    public SilenceFault? Silence { get; init; }

    /// <summary>Answers 429 with <c>Retry-After</c> and <c>RateLimit: "…";r=0;t=N</c>.</summary>
    public RateLimitFault? TooManyRequests { get; init; }

    /// <summary>File bodies ignore <c>Range</c>: 200 with the whole body.</summary>
    public bool IgnoreRange { get; init; }

    /// <summary>
    /// Like CloudFront with compressible files: when the request accepts gzip, the body is gzipped and chunked, without
    /// <c>Content-Length</c>, and <c>Range</c> is ignored (hub-api.md §4.5). Clients should send
    /// <c>Accept-Encoding: identity</c> for file bytes.
    /// </summary>
    public bool GzipWhenAccepted { get; init; }

    /// <summary>
    /// Sends a <c>Content-Length</c> that disagrees with the body. Kestrel cannot put more bytes on the wire than
    /// it announced, so a header larger than the body is followed by a cut connection, and a header smaller than
    /// the body sends only the announced bytes (a clean, short response).
    /// </summary>
    public ContentLengthFault? WrongContentLength { get; init; }

    /// <summary>Flips a byte of a file body at a file offset (the advertised hashes stay those of the true content).</summary>
    public CorruptionFault? Corrupt { get; init; }

    /// <summary>Deliberately broken metadata, for a client's security and robustness tests.</summary>
    public HostileFaults? Hostile { get; init; }

    /// <summary>
    /// Paths the listings keep but whose bytes cannot be served: <c>/resolve/</c> and <c>/api/resolve-cache/</c> answer
    /// 404 <c>X-Error-Code: EntryNotFound</c> for them, as the real Hub does when a file's storage object is missing.
    /// </summary>
    public IReadOnlyList<string> UnservableFiles { get; init; } = [];

    /// <summary>Faults of the Xet routes (reconstructions and xorb ranges); the body faults above apply to xorbs too.</summary>
    public XetFaults? Xet { get; init; }

    /// <summary>Seeds the random decisions (probabilities).</summary>
    public int Seed { get; init; } = 12345;

    internal bool HasStatusFaults => ServerErrors is not null || TooManyRequests is not null || Silence is not null;

    internal void Validate()
    {
        if (PerConnectionBytesPerSecond is <= 0 || GlobalBytesPerSecond is <= 0)
        {
            throw new ArgumentException("Throughput caps must be positive.");
        }
        if (Latency < TimeSpan.Zero)
        {
            throw new ArgumentException("Latency must not be negative.");
        }
        if (ServerErrors is { StatusCode: < 500 or > 599 })
        {
            throw new ArgumentException("ServerErrors.StatusCode must be a 5xx status.");
        }
        if (SignedUrlLifetime is { } lifetime && lifetime <= TimeSpan.Zero)
        {
            throw new ArgumentException("SignedUrlLifetime must be positive.");
        }
        if (Xet is { ExpiredXorbUrls: < 0 })
        {
            throw new ArgumentException("Xet.ExpiredXorbUrls must not be negative.");
        }
        if (Xet is { UnauthorizedReconstructions: < 0 })
        {
            throw new ArgumentException("Xet.UnauthorizedReconstructions must not be negative.");
        }
    }
}

/// <summary>Which routes a fault applies to.</summary>
[Flags]
public enum FaultTargets
{
    None = 0,

    /// <summary><c>/api/...</c> metadata routes (info, tree, paths-info, refs).</summary>
    Api = 1,

    /// <summary>File routes on the hub: <c>/resolve/</c>, <c>/raw/</c> and <c>/api/resolve-cache/</c>.</summary>
    Resolve = 2,

    /// <summary>The CDN listener (plain-HTTPS file bytes and xorb ranges).</summary>
    Cdn = 4,

    /// <summary>The Xet CAS listener (reconstructions).</summary>
    Cas = 8,

    /// <summary>Everything that sends file bytes or redirects to them.</summary>
    Files = Resolve | Cdn,

    All = Api | Resolve | Cdn | Cas,
}

/// <summary>How often a body fault strikes.</summary>
public enum FaultRepeat
{
    /// <summary>The first transfer of each file that reaches the fault point; later ones are clean (a retry succeeds).</summary>
    OncePerFile,

    /// <summary>Every transfer.</summary>
    Always,

    /// <summary>Each transfer with the fault's probability.</summary>
    Random,
}

/// <summary>Aborts the connection after <paramref name="AfterBytes"/> body bytes of a response.</summary>
public sealed record DropConnectionFault(long AfterBytes)
{
    public FaultRepeat Repeat { get; init; } = FaultRepeat.OncePerFile;

    /// <summary>For <see cref="FaultRepeat.Random"/>.</summary>
    public double Probability { get; init; } = 0.5;
}

/// <summary>Stops sending after <paramref name="AfterBytes"/> body bytes for <see cref="Duration"/> (null: until the client gives up).</summary>
public sealed record StallFault(long AfterBytes)
{
    public TimeSpan? Duration { get; init; }

    public FaultRepeat Repeat { get; init; } = FaultRepeat.OncePerFile;

    public double Probability { get; init; } = 0.5;
}

/// <summary>
/// Answers <paramref name="StatusCode"/> for the first <see cref="FirstRequests"/> targeted requests (after letting
/// <see cref="SkipRequests"/> through), then with <see cref="Probability"/>.
/// </summary>
public sealed record StatusFault(int StatusCode = 503)
{
    public int FirstRequests { get; init; }

    /// <summary>Targeted requests answered normally before the fault starts (1 fails page 2 of a listing, say).</summary>
    public int SkipRequests { get; init; }

    /// <summary>When set, only requests whose path contains this (<c>/tree/</c>, say) are targeted.</summary>
    public string? PathContains { get; init; }

    /// <summary>When set, the answer carries <c>Retry-After</c> with this many seconds.</summary>
    public int? RetryAfterSeconds { get; init; }

    public double Probability { get; init; }

    public FaultTargets Targets { get; init; } = FaultTargets.All;
}

/// <summary>
/// Never answers the first <see cref="FirstRequests"/> targeted requests (by default only ranged ones, as a CDN that
/// accepts a range request and then hangs): the connection stays open and silent until the client gives up.
/// </summary>
public sealed record SilenceFault
{
    public int FirstRequests { get; init; } = 1;

    /// <summary>Only requests with a <c>Range</c> header are answered with silence.</summary>
    public bool RangedOnly { get; init; } = true;

    public FaultTargets Targets { get; init; } = FaultTargets.Files;
}

/// <summary>
/// Answers 429 for the first <see cref="FirstRequests"/> targeted requests (after letting <see cref="SkipRequests"/>
/// through), then with <see cref="Probability"/>.
/// </summary>
public sealed record RateLimitFault
{
    public int FirstRequests { get; init; }

    /// <summary>Targeted requests answered normally before the fault starts.</summary>
    public int SkipRequests { get; init; }

    /// <summary>When set, only requests whose path contains this (<c>/tree/</c>, say) are targeted.</summary>
    public string? PathContains { get; init; }

    public double Probability { get; init; }

    public int RetryAfterSeconds { get; init; } = 1;

    public FaultTargets Targets { get; init; } = FaultTargets.All;
}

/// <summary>Announces <c>Content-Length</c> = true length + <paramref name="Delta"/>.</summary>
public sealed record ContentLengthFault(long Delta)
{
    public FaultRepeat Repeat { get; init; } = FaultRepeat.Always;

    public double Probability { get; init; } = 0.5;
}

/// <summary>XORs the byte at file offset <paramref name="Offset"/> with <see cref="Mask"/> whenever it is sent.</summary>
public sealed record CorruptionFault(long Offset)
{
    public byte Mask { get; init; } = 0xFF;

    public FaultRepeat Repeat { get; init; } = FaultRepeat.Always;

    public double Probability { get; init; } = 0.5;
}

/// <summary>
/// Hostile metadata. File names with path traversal (<c>../x</c>, <c>/abs</c>, <c>C:\x</c>, <c>\\server\share</c>,
/// control characters, case-only duplicates) need no switch: add files with such names to the store, and the server
/// lists and serves them as they are.
/// </summary>
public sealed record HostileFaults
{
    /// <summary>Every file size in tree, paths-info and siblings is reported as this (negative or huge, say).</summary>
    public long? ListedSize { get; init; }

    /// <summary>Listed sizes are the true size plus this, so they disagree with what resolve serves.</summary>
    public long ListedSizeDelta { get; init; }

    /// <summary>
    /// Listings and resolve headers advertise hashes that do not match the bytes (the last hex digit changed), so a
    /// client that verifies what it downloaded must fail.
    /// </summary>
    public bool WrongHashes { get; init; }

    /// <summary>API JSON bodies are cut in half (invalid JSON).</summary>
    public bool MalformedJson { get; init; }

    /// <summary>Tree listings are padded, streamed, to about this many bytes (a valid but gigantic JSON body).</summary>
    public long? GiganticJsonBytes { get; init; }

    /// <summary>Tree pagination never ends: after the first page, each page's <c>next</c> link is the page itself.</summary>
    public bool PaginationLoop { get; init; }

    /// <summary>
    /// Tree pagination never ends, and never repeats: every page links to a new one, and the pages past the real
    /// listing hold made-up files (<c>endless/N/I.bin</c>, a page's worth each). With
    /// <see cref="EndlessLinkPadding"/> the links also grow longer by that many characters per page.
    /// </summary>
    public bool EndlessPagination { get; init; }

    /// <summary>
    /// Tree pagination never ends and every page links to a new URL, but each page repeats the listing's first entries:
    /// only a client that notices the repeated paths stops.
    /// </summary>
    public bool RepeatingPagination { get; init; }

    /// <summary>Characters added to each next link of <see cref="EndlessPagination"/> over the one before.</summary>
    public int EndlessLinkPadding { get; init; }

    /// <summary>Resolve answers this many same-host 302 hops before the real answer (more than 10 is hostile).</summary>
    public int RedirectHops { get; init; }

    /// <summary>Resolve redirects to itself forever.</summary>
    public bool RedirectLoop { get; init; }

    /// <summary>
    /// CDN redirects use <c>http://</c> even when the server runs with <see cref="HubServerOptions.UseHttps"/>: an
    /// HTTPS-to-HTTP downgrade. The CDN port still speaks TLS, so a client that follows the downgrade fails to connect
    /// (and the CDN logs no request) instead of getting the file.
    /// </summary>
    public bool DowngradeToHttp { get; init; }
}

/// <summary>Faults of the Xet routes.</summary>
public sealed record XetFaults
{
    /// <summary>The first this many reconstruction requests answer 401, as if the token had expired.</summary>
    public int UnauthorizedReconstructions { get; init; }

    /// <summary>Reconstructions that lie about lengths.</summary>
    public XetReconstructionLie Lie { get; init; }

    /// <summary>Every xorb range the CDN sends has its middle byte flipped (a corrupt transfer of valid-looking data).</summary>
    public bool CorruptXorbRanges { get; init; }

    /// <summary>The CAS has no v2 route: <c>/v2/reconstructions/…</c> answers 404, as a CAS from before v2 did.</summary>
    public bool NoV2 { get; init; }

    /// <summary>Listings (tree, paths-info) carry no <c>xetHash</c>: only the resolve headers say a file is Xet-backed.</summary>
    public bool UnlistedHashes { get; init; }

    /// <summary><c>xet-read-token</c> answers 403, as for a Hub token without the scope a Xet token needs.</summary>
    public bool RefuseTokens { get; init; }

    /// <summary>
    /// The first this many xorb fetches answer 403 "Request has expired", as the CDN does for a signed URL used after
    /// its expiry: the deterministic form of a short <see cref="HubFaults.SignedUrlLifetime"/>.
    /// </summary>
    public int ExpiredXorbUrls { get; init; }
}

/// <summary>How a reconstruction lies.</summary>
public enum XetReconstructionLie
{
    None,

    /// <summary>The first term's <c>unpacked_length</c> is one byte more than its chunks hold.</summary>
    UnpackedLength,

    /// <summary>Every fetch range's byte range ends one byte early (it is signed that way, so the CDN serves it).</summary>
    ByteRange,

    /// <summary>
    /// Every fetch range that does not end at its xorb's last chunk takes one chunk more than its terms use (signed
    /// that way): chunks no term of the file needs, which no sha256 of it checks.
    /// </summary>
    WiderFetchRange,
}

/// <summary>Reads a <c>"faults"</c> object from a folder store's settings file.</summary>
internal static class HubFaultsJson
{
    public static HubFaults Read(JsonElement element, string source)
    {
        try
        {
            var faults = HubFaults.None;
            foreach (var property in element.EnumerateObject())
            {
                var v = property.Value;
                faults = property.Name switch
                {
                    "perConnectionBytesPerSecond" => faults with { PerConnectionBytesPerSecond = v.GetInt64() },
                    "globalBytesPerSecond" => faults with { GlobalBytesPerSecond = v.GetInt64() },
                    "latencyMs" => faults with { Latency = TimeSpan.FromMilliseconds(v.GetDouble()) },
                    "latencyMethod" => faults with { LatencyMethod = v.GetString() },
                    "signedUrlLifetimeSeconds" => faults with { SignedUrlLifetime = TimeSpan.FromSeconds(v.GetDouble()) },
                    "ignoreRange" => faults with { IgnoreRange = v.GetBoolean() },
                    "seed" => faults with { Seed = v.GetInt32() },
                    "dropConnection" => faults with
                    {
                        DropConnection = new DropConnectionFault(v.GetProperty("afterBytes").GetInt64())
                        {
                            Repeat = Repeat(v),
                            Probability = Number(v, "probability", 0.5),
                        },
                    },
                    "stall" => faults with
                    {
                        Stall = new StallFault(v.GetProperty("afterBytes").GetInt64())
                        {
                            Duration = v.TryGetProperty("durationMs", out var d) ? TimeSpan.FromMilliseconds(d.GetDouble()) : null,
                            Repeat = Repeat(v),
                            Probability = Number(v, "probability", 0.5),
                        },
                    },
                    "serverErrors" => faults with
                    {
                        ServerErrors = new StatusFault(v.TryGetProperty("statusCode", out var s) ? s.GetInt32() : 503)
                        {
                            FirstRequests = (int)Number(v, "firstRequests", 0),
                            SkipRequests = (int)Number(v, "skipRequests", 0),
                            PathContains = v.TryGetProperty("pathContains", out var p) ? p.GetString() : null,
                            RetryAfterSeconds = v.TryGetProperty("retryAfterSeconds", out var r) ? r.GetInt32() : null,
                            Probability = Number(v, "probability", 0),
                            Targets = Targets(v),
                        },
                    },
                    "tooManyRequests" => faults with
                    {
                        TooManyRequests = new RateLimitFault
                        {
                            FirstRequests = (int)Number(v, "firstRequests", 0),
                            SkipRequests = (int)Number(v, "skipRequests", 0),
                            PathContains = v.TryGetProperty("pathContains", out var p) ? p.GetString() : null,
                            Probability = Number(v, "probability", 0),
                            RetryAfterSeconds = (int)Number(v, "retryAfterSeconds", 1),
                            Targets = Targets(v),
                        },
                    },
                    "silence" => faults with
                    {
                        Silence = new SilenceFault
                        {
                            FirstRequests = (int)Number(v, "firstRequests", 1),
                            RangedOnly = !v.TryGetProperty("rangedOnly", out var ranged) || ranged.GetBoolean(),
                            Targets = v.TryGetProperty("targets", out _) ? Targets(v) : FaultTargets.Files,
                        },
                    },
                    "corrupt" => faults with { Corrupt = new CorruptionFault(v.GetProperty("offset").GetInt64()) { Repeat = Repeat(v, FaultRepeat.Always) } },
                    "contentLengthDelta" => faults with { WrongContentLength = new ContentLengthFault(v.GetInt64()) },
                    "unservableFiles" => faults with { UnservableFiles = [.. v.EnumerateArray().Select(p => p.GetString() ?? "")] },
                    "xet" => faults with
                    {
                        Xet = new XetFaults
                        {
                            UnauthorizedReconstructions = (int)Number(v, "unauthorizedReconstructions", 0),
                            Lie = v.TryGetProperty("lie", out var lie)
                                ? Enum.Parse<XetReconstructionLie>(lie.GetString() ?? "", ignoreCase: true)
                                : XetReconstructionLie.None,
                            CorruptXorbRanges = v.TryGetProperty("corruptXorbRanges", out var corrupt) && corrupt.GetBoolean(),
                            ExpiredXorbUrls = (int)Number(v, "expiredXorbUrls", 0),
                            NoV2 = v.TryGetProperty("noV2", out var noV2) && noV2.GetBoolean(),
                            UnlistedHashes = v.TryGetProperty("unlistedHashes", out var unlisted) && unlisted.GetBoolean(),
                            RefuseTokens = v.TryGetProperty("refuseTokens", out var refuse) && refuse.GetBoolean(),
                        },
                    },
                    _ => throw new InvalidDataException($"unknown fault '{property.Name}'"),
                };
            }
            faults.Validate();
            return faults;
        }
        catch (Exception ex) when (ex is InvalidOperationException or KeyNotFoundException or FormatException or ArgumentException)
        {
            throw new InvalidDataException($"{source}: invalid \"faults\": {ex.Message}", ex);
        }
    }

    private static double Number(JsonElement element, string name, double fallback) =>
        element.TryGetProperty(name, out var value) ? value.GetDouble() : fallback;

    private static FaultRepeat Repeat(JsonElement element, FaultRepeat fallback = FaultRepeat.OncePerFile) =>
        element.TryGetProperty("repeat", out var value)
            ? Enum.Parse<FaultRepeat>(value.GetString() ?? "", ignoreCase: true)
            : fallback;

    private static FaultTargets Targets(JsonElement element) =>
        element.TryGetProperty("targets", out var value)
            ? Enum.Parse<FaultTargets>(value.GetString() ?? "", ignoreCase: true)
            : FaultTargets.All;
}
