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
    private readonly ConcurrentDictionary<string, HubFaults> _xorbFaults = new(StringComparer.Ordinal);

    public HubState(HubServerOptions options, HubRequestLog log)
    {
        Options = options;
        Log = log;
        Hub = new HubHandler(this);
        Cdn = new CdnHandler(this);
        Cas = new CasHandler(this);
        Xet = new XetCas(options);
    }

    public HubServerOptions Options { get; }

    public HubRequestLog Log { get; }

    public HubHandler Hub { get; }

    public FaultEngine Faults { get; } = new();

    public CdnHandler Cdn { get; }

    public Uri CdnBase { get; set; } = new("http://localhost");

    /// <summary>The Xet CAS listener (reconstructions).</summary>
    public CasHandler Cas { get; }

    public Uri CasBase { get; set; } = new("http://localhost");

    /// <summary>The xorbs and Xet indexes of Xet-backed repos.</summary>
    public XetCas Xet { get; }

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
        var policy = Policy($"{CdnBase}{path.TrimStart('/')}*", expires);
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

    /// <summary>
    /// A CAS token for a repo and commit, valid until <c>exp</c>: <c>xet_</c>, the claims in base64url, a dot, their
    /// HMAC. Only this server instance can make or read one.
    /// </summary>
    public (string Token, long Expires) IssueXetToken(HostedRepo repo, string commit)
    {
        var expires = (Now + Options.Xet.TokenLifetime).ToUnixTimeSeconds();
        var claims = Encoding.UTF8.GetBytes(string.Join('\n', repo.Type.ApiSegment(), repo.Id, commit, expires.ToString(CultureInfo.InvariantCulture)));
        return ("xet_" + Base64Url(claims) + "." + Base64Url(TokenMac(claims)), expires);
    }

    private byte[] TokenMac(byte[] claims) => HMACSHA256.HashData(_signingKey, (byte[])[.. "xet-token\n"u8, .. claims]);

    /// <summary>The repo and commit of a valid CAS token; null when it is not one of this server's or has expired.</summary>
    public (RepoType Type, string RepoId, string Commit)? ReadXetToken(string? token)
    {
        var dot = token?.IndexOf('.', StringComparison.Ordinal) ?? -1;
        if (token is null || !token.StartsWith("xet_", StringComparison.Ordinal) || dot < 4)
        {
            return null;
        }
        try
        {
            var claims = System.Buffers.Text.Base64Url.DecodeFromChars(token.AsSpan(4, dot - 4));
            var expected = Base64Url(TokenMac(claims));
            if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(token[(dot + 1)..])))
            {
                return null;
            }
            var parts = Encoding.UTF8.GetString(claims).Split('\n');
            var type = parts[0] switch { "models" => RepoType.Model, "datasets" => RepoType.Dataset, _ => RepoType.Space };
            return long.Parse(parts[3], CultureInfo.InvariantCulture) >= Now.ToUnixTimeSeconds() ? (type, parts[1], parts[2]) : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>
    /// A signed, expiring CDN URL for byte ranges of a xorb, as reconstructions hand them out:
    /// <c>/xorbs/default/{hash}?X-Xet-Signed-Range=bytes%3Da-b%2Cc-d&amp;repo_id=…&amp;Expires=…&amp;Policy=…&amp;Signature=…</c>.
    /// The signature covers the ranges, so the CDN serves those and nothing else. Xorb requests get the repo's faults.
    /// </summary>
    public Uri SignXorbUrl(HostedRepo repo, string xorbHash, string signedRange, HubFaults faults)
    {
        _xorbFaults[repo.ObjectId] = faults;
        var path = "/xorbs/default/" + xorbHash;
        var lifetime = faults.SignedUrlLifetime ?? Options.SignedUrlLifetime;
        var expires = (Now + lifetime).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var query = "X-Xet-Signed-Range=" + Uri.EscapeDataString(signedRange) + "&repo_id=" + repo.ObjectId;
        var policy = Policy($"{CdnBase}{path.TrimStart('/')}?{query}", expires);
        return new Uri(CdnBase, path + "?" + query + "&Expires=" + expires + "&Policy=" + policy
            + "&Signature=" + Sign(XorbSignedResource(path, signedRange, repo.ObjectId), expires) + "&Key-Pair-Id=K3RPWS32NSSJCE");
    }

    /// <summary>What a xorb URL's signature covers.</summary>
    public static string XorbSignedResource(string path, string signedRange, string repoObjectId) => path + "?" + signedRange + "&" + repoObjectId;

    /// <summary>The faults of the repo a xorb URL was made for.</summary>
    public HubFaults XorbFaults(string repoObjectId) => _xorbFaults.GetValueOrDefault(repoObjectId) ?? Options.Faults;

    /// <summary>A CloudFront-style policy (for looks: the signature is what the CDN checks).</summary>
    private static string Policy(string resource, string expires) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(
            $"{{\"Statement\":[{{\"Resource\":\"{resource}\",\"Condition\":{{\"DateLessThan\":{{\"AWS:EpochTime\":{expires}}}}}}}]}}"))
            .Replace('+', '-').Replace('=', '_').Replace('/', '~');

    private static string Base64Url(byte[] bytes) => System.Buffers.Text.Base64Url.EncodeToString(bytes);

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
