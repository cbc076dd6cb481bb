using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Hfdl.Hub.Server;

/// <summary>What both listeners share: options, the log, the URL-signing key, the CDN's object table, counters.</summary>
internal sealed class HubState
{
    private readonly byte[] _signingKey = RandomNumberGenerator.GetBytes(32);
    private readonly ConcurrentDictionary<string, CdnObject> _cdnObjects = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, RateWindow> _rateWindows = new(StringComparer.Ordinal);

    public HubState(HubServerOptions options, HubRequestLog log)
    {
        Options = options;
        Log = log;
        Hub = new HubHandler(this);
        Cdn = new CdnHandler(this);
    }

    public HubServerOptions Options { get; }

    public HubRequestLog Log { get; }

    public HubHandler Hub { get; }

    public FaultEngine Faults { get; } = new();

    public CdnHandler Cdn { get; }

    public Uri CdnBase { get; set; } = new("http://localhost");

    public DateTimeOffset Now => Options.TimeProvider.GetUtcNow();

    public HubUser? FindUser(string token) => Options.Users.FirstOrDefault(u => u.Token == token);

    /// <summary>Registers a file under a CDN path and returns the signed absolute URL to it.</summary>
    public Uri PublishToCdn(HostedRepo repo, IndexedFile file, HubFaults faults)
    {
        var repoHash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(repo.ObjectId)));
        var path = $"/repos/{repoHash[..2]}/{repoHash[2..4]}/{repoHash}/{file.Etag}";
        _cdnObjects[path] = new CdnObject(repo, file, faults);
        var lifetime = faults.SignedUrlLifetime ?? Options.SignedUrlLifetime;
        var expires = (Now + lifetime).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var fileName = file.Path[(file.Path.LastIndexOf('/') + 1)..];
        var disposition = ContentDisposition(fileName);
        var policy = Convert.ToBase64String(Encoding.UTF8.GetBytes(
            $"{{\"Statement\":[{{\"Resource\":\"{CdnBase}{path.TrimStart('/')}*\",\"Condition\":{{\"DateLessThan\":{{\"AWS:EpochTime\":{expires}}}}}}}]}}"))
            .Replace('+', '-').Replace('=', '_').Replace('/', '~');
        var query = "response-content-disposition=" + Uri.EscapeDataString(disposition)
            + "&Expires=" + expires
            + "&Policy=" + policy
            + "&Signature=" + Sign(path, expires)
            + "&Key-Pair-Id=K3RPWS32NSSJCE";
        var url = new Uri(CdnBase, path + "?" + query);
        return faults.Hostile is { DowngradeToHttp: true } && url.Scheme == Uri.UriSchemeHttps
            ? new UriBuilder(url) { Scheme = Uri.UriSchemeHttp, Port = url.Port }.Uri
            : url;
    }

    public CdnObject? FindCdnObject(string path) => _cdnObjects.GetValueOrDefault(path);

    /// <summary>An HMAC over path and expiry with a key only this server instance knows.</summary>
    public string Sign(string path, string expires)
    {
        var mac = HMACSHA256.HashData(_signingKey, Encoding.UTF8.GetBytes(path + "\n" + expires));
        return Convert.ToBase64String(mac).Replace('+', '-').Replace('=', '_').Replace('/', '~');
    }

    /// <summary>Counts a request in its rate-limit bucket and returns the remaining quota and seconds to reset.</summary>
    public (int Remaining, int ResetSeconds, int Quota) CountRequest(string bucket)
    {
        const int window = 300;
        var quota = bucket == "resolvers" ? 3000 : 1000;
        var now = Now.ToUnixTimeSeconds();
        var rate = _rateWindows.GetOrAdd(bucket, _ => new RateWindow());
        lock (rate)
        {
            var start = now - (now % window);
            if (rate.Start != start)
            {
                rate.Start = start;
                rate.Count = 0;
            }
            rate.Count++;
            // Never advertise r=0 on a success: well-behaved clients would pause for nothing. 429s come from faults.
            return (Math.Max(1, quota - rate.Count), (int)(start + window - now), quota);
        }
    }

    public static string ContentDisposition(string fileName)
    {
        var ascii = new string([.. fileName.Select(c => c is >= ' ' and < (char)127 and not '"' and not '\\' ? c : '_')]);
        return $"inline; filename*=UTF-8''{Uri.EscapeDataString(fileName)}; filename=\"{ascii}\";";
    }

    private sealed class RateWindow
    {
        public long Start { get; set; }

        public int Count { get; set; }
    }
}

/// <summary>A file the CDN can serve, registered when the hub redirected to it.</summary>
internal sealed record CdnObject(HostedRepo Repo, IndexedFile File, HubFaults Faults);
