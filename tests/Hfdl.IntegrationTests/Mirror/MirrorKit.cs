using System.Diagnostics;
using System.Net.Http.Headers;
using Hfdl.Core.Hub;
using Hfdl.Hub.Mirror;
using Hfdl.Hub.Server;
using Hfdl.IntegrationTests.Support;

namespace Hfdl.IntegrationTests.Mirror;

/// <summary>A real Hfdl.Hub as the upstream and a real mirror in front of it, both on 127.0.0.1, and the ways tests talk to them.</summary>
internal static class MirrorKit
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    /// <summary>The options of a mirror of <paramref name="upstream"/>: test timings, 1 MiB segments (so a resume re-fetches little).</summary>
    public static MirrorOptions Options(Uri upstream, string store) => new()
    {
        Upstream = upstream,
        Store = store,
        Port = 0,
        Download = Engine.FastOptions with { ChunkSize = 1024 * 1024 },
        UpstreamClient = new HubClientOptions { Endpoint = upstream, MaxRetries = 1, RetryDelay = TimeSpan.FromMilliseconds(20), ReadTimeout = TimeSpan.FromSeconds(5) },
    };

    public static Task<MirrorServer> StartAsync(HubServer upstream, string store, Func<MirrorOptions, MirrorOptions>? configure = null)
    {
        var options = Options(upstream.Endpoint, store);
        return MirrorServer.StartAsync(configure is null ? options : configure(options));
    }

    /// <summary>A client that follows no redirect by itself (<see cref="GetAsync"/> follows the mirror's, keeping the token on its origin).</summary>
    public static HttpClient Http() =>
        new(new SocketsHttpHandler { AllowAutoRedirect = false, AutomaticDecompression = System.Net.DecompressionMethods.None, UseCookies = false })
        {
            Timeout = TimeSpan.FromSeconds(90),
        };

    /// <summary>GET (or HEAD) <paramref name="url"/>, following same-origin redirects with the token, as huggingface_hub does.</summary>
    /// <param name="authorization">An Authorization header sent as it is (instead of <paramref name="token"/>'s Bearer).</param>
    /// <param name="userAgent">A User-Agent header (hfdl's, say: <see cref="HfdlUserAgent"/>); none by default.</param>
    /// <param name="ifRange">An If-Range header, sent as it is.</param>
    public static async Task<HttpResponseMessage> GetAsync(HttpClient http, Uri url, string? token = null, string? range = null, bool head = false, string? authorization = null, string? userAgent = null, string? ifRange = null)
    {
        for (var hop = 0; ; hop++)
        {
            var request = new HttpRequestMessage(head ? HttpMethod.Head : HttpMethod.Get, url);
            if (token is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }
            if (authorization is not null)
            {
                request.Headers.TryAddWithoutValidation("Authorization", authorization);
            }
            if (range is not null)
            {
                request.Headers.TryAddWithoutValidation("Range", range);
            }
            if (ifRange is not null)
            {
                request.Headers.TryAddWithoutValidation("If-Range", ifRange);
            }
            if (userAgent is not null)
            {
                request.Headers.TryAddWithoutValidation("User-Agent", userAgent);
            }
            var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            if ((int)response.StatusCode is 301 or 302 or 307 or 308 && hop < 5 && response.Headers.Location is { } location)
            {
                var next = new Uri(url, location);
                if (next.Authority != url.Authority)
                {
                    (token, authorization) = (null, null);
                }
                url = next;
                response.Dispose();
                continue;
            }
            return response;
        }
    }

    /// <summary>The User-Agent hfdl sends (a client that verifies every file it downloads itself).</summary>
    public static string HfdlUserAgent => new HubClientOptions { Endpoint = new Uri("http://127.0.0.1/") }.UserAgent;

    public static Uri ResolveUrl(Uri endpoint, string repo, string path, string revision = "main") =>
        new(endpoint, $"{repo}/resolve/{revision}/{path}");

    /// <summary>
    /// File-body bytes the upstream sent for one file: its CDN object (named by its sha256) or its resolve-cache URL.
    /// Each byte crossing once means exactly the file's size.
    /// </summary>
    public static long UpstreamBytesOf(HubServer upstream, string path, FileContent content) =>
        upstream.Requests.Snapshot()
            .Where(r => r.Method == "GET" && r.StatusCode is 200 or 206 && IsBodyOf(r, path, content))
            .Sum(r => r.BodyBytesSent);

    /// <summary>File-body requests the upstream answered for one file (a transfer may use several ranged connections).</summary>
    public static int UpstreamRequestsOf(HubServer upstream, string path, FileContent content) =>
        upstream.Requests.Snapshot().Count(r => r.Method == "GET" && r.StatusCode is 200 or 206 && IsBodyOf(r, path, content));

    private static bool IsBodyOf(RecordedRequest request, string path, FileContent content)
    {
        var target = request.PathAndQuery.Split('?')[0];
        return request.Listener == "cdn"
            ? target.EndsWith("/" + content.Sha256, StringComparison.Ordinal)
            : target.StartsWith("/api/resolve-cache/", StringComparison.Ordinal) && Uri.UnescapeDataString(target).EndsWith("/" + path, StringComparison.Ordinal);
    }

    /// <summary>Waits, without sleeping blindly, until <paramref name="condition"/> holds; fails with <paramref name="what"/> at the deadline.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > (timeout ?? Patience))
            {
                throw new Xunit.Sdk.XunitException($"Timed out waiting for {what}.");
            }
            await Task.Delay(10);
        }
    }

    /// <summary>The values of the mirror's <c>/metrics</c> text, by series (<c>name{labels}</c>).</summary>
    public static Dictionary<string, long> ParseMetrics(string text) =>
        text.Split('\n').Where(l => l.Length > 0 && l[0] != '#').Select(l => l.Split(' '))
            .ToDictionary(p => p[0], p => long.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Waits until the mirror's <c>/metrics</c> show <paramref name="condition"/> (polled, with a deadline): for a mirror in another process.</summary>
    public static async Task WaitForMetricsAsync(HttpClient http, Uri endpoint, Func<Dictionary<string, long>, bool> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!condition(ParseMetrics(await http.GetStringAsync(new Uri(endpoint, "metrics")))))
        {
            if (watch.Elapsed > Patience)
            {
                throw new Xunit.Sdk.XunitException($"Timed out waiting for {what}.");
            }
            await Task.Delay(10);
        }
    }

    /// <summary>Reads a whole body; null when the connection was cut before it ended (what a client of a corrupt copy must see).</summary>
    public static async Task<byte[]?> ReadAllOrCutAsync(HttpResponseMessage response)
    {
        try
        {
            return await response.Content.ReadAsByteArrayAsync();
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            return null;
        }
    }

    /// <summary>The environment of an hfdl client of the mirror: its own HF_HOME, HF_ENDPOINT at the mirror.</summary>
    public static Dictionary<string, string?> ClientEnvironment(Uri endpoint, TempFolder home, string name) => new()
    {
        ["HF_ENDPOINT"] = endpoint.ToString().TrimEnd('/'),
        ["HF_HOME"] = home.Combine(name + "-hf-home"),
        ["HOME"] = home.Combine(name + "-home"),
        ["HF_HUB_DISABLE_TELEMETRY"] = "1",
    };

    public static bool SameBytes(FileContent content, byte[]? bytes) => bytes is not null && content.ToArray().AsSpan().SequenceEqual(bytes);

    /// <summary>Every file of <paramref name="files"/> is in <paramref name="folder"/>, bit-exact.</summary>
    public static void AssertFiles(string folder, IEnumerable<(string Path, FileContent Content)> files)
    {
        foreach (var (path, content) in files)
        {
            var local = Path.Combine(folder, path);
            Assert.True(File.Exists(local), $"{local} is missing");
            Assert.True(content.ToArray().AsSpan().SequenceEqual(File.ReadAllBytes(local)), $"{local} differs from the upstream's {path}");
        }
    }
}
