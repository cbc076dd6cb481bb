using System.Globalization;
using System.Text;

namespace Hfdl.Hub.Mirror;

/// <summary>The mirror's counters, rendered in the Prometheus text format on <c>/metrics</c>.</summary>
internal sealed class MirrorMetrics
{
    private readonly string[] _routes = ["resolve", "file", "api", "metrics", "other"];
    private readonly long[] _requests = new long[5];
    private long _hits;
    private long _misses;
    private long _joins;
    private long _upstreamBytesDone;
    private long _servedBytes;
    private long _evictions;
    private long _evictedBytes;
    private long _verificationFailures;
    private long _upstreamUnreachable;

    /// <summary>Bytes the transfers in flight have received so far (added to the finished ones when rendered).</summary>
    public Func<long> UpstreamBytesInFlight { get; set; } = () => 0;

    public Func<int> TransfersInFlight { get; set; } = () => 0;

    public Func<long> StoredBytes { get; set; } = () => 0;

    public long Hits => Interlocked.Read(ref _hits);

    public long Misses => Interlocked.Read(ref _misses);

    public long Joins => Interlocked.Read(ref _joins);

    public long Evictions => Interlocked.Read(ref _evictions);

    public long UpstreamBytes => Interlocked.Read(ref _upstreamBytesDone) + UpstreamBytesInFlight();

    public void Request(string route, long bodyBytes)
    {
        var index = Array.IndexOf(_routes, route);
        Interlocked.Increment(ref _requests[index < 0 ? _routes.Length - 1 : index]);
        Interlocked.Add(ref _servedBytes, bodyBytes);
    }

    public void Hit() => Interlocked.Increment(ref _hits);

    public void Miss() => Interlocked.Increment(ref _misses);

    public void Join() => Interlocked.Increment(ref _joins);

    public void TransferEnded(long upstreamBytes) => Interlocked.Add(ref _upstreamBytesDone, upstreamBytes);

    public void Evicted(long bytes)
    {
        Interlocked.Increment(ref _evictions);
        Interlocked.Add(ref _evictedBytes, bytes);
    }

    public void VerificationFailed() => Interlocked.Increment(ref _verificationFailures);

    public void UpstreamUnreachable() => Interlocked.Increment(ref _upstreamUnreachable);

    public string Render()
    {
        var text = new StringBuilder();
        void Metric(string name, string type, string help, IEnumerable<(string Labels, long Value)> values)
        {
            text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
            foreach (var (labels, value) in values)
            {
                text.Append(name).Append(labels).Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
        }
        void Counter(string name, string help, long value) => Metric(name, "counter", help, [("", value)]);
        Metric("hfdl_serve_requests_total", "counter", "Requests answered, by route (resolve: /resolve/; file: the bytes; api: /api/ metadata).",
            _routes.Select((route, i) => ($"{{route=\"{route}\"}}", Interlocked.Read(ref _requests[i]))));
        Counter("hfdl_serve_cache_hits_total", "File GET requests answered from the store (each ranged request counts).", Hits);
        Counter("hfdl_serve_cache_misses_total", "Upstream transfers started by a file request (one per transfer).", Misses);
        Counter("hfdl_serve_single_flight_joins_total", "Client downloads that shared an upstream transfer already running: one per download, at its request that reads the file's first byte (a bytes=0-0 headers probe is none).", Joins);
        Counter("hfdl_serve_upstream_bytes_total", "File bytes received from the upstream.", UpstreamBytes);
        Counter("hfdl_serve_served_bytes_total", "Response body bytes sent to clients.", Interlocked.Read(ref _servedBytes));
        Counter("hfdl_serve_evictions_total", "Blobs evicted to stay under --max-size.", Evictions);
        Counter("hfdl_serve_evicted_bytes_total", "Bytes of the blobs evicted.", Interlocked.Read(ref _evictedBytes));
        Counter("hfdl_serve_verification_failures_total", "Upstream copies that failed their size or hash check (their clients were cut).", Interlocked.Read(ref _verificationFailures));
        Counter("hfdl_serve_upstream_unreachable_total", "Requests answered without the upstream because it could not be reached.", Interlocked.Read(ref _upstreamUnreachable));
        Metric("hfdl_serve_upstream_transfers", "gauge", "Upstream transfers in flight.", [("", TransfersInFlight())]);
        Metric("hfdl_serve_store_bytes", "gauge", "Bytes of blobs in the store.", [("", StoredBytes())]);
        return text.ToString();
    }
}
