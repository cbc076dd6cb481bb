using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;

namespace Hfdl.Hub.Server;

/// <summary>One request on either listener: the raw target, the caller, and body writes that are counted.</summary>
internal sealed class HubRequest
{
    public HubRequest(HttpContext http, HubState state, string listener)
    {
        Http = http;
        State = state;
        Listener = listener;
        Store = state.Options.Store;
        var rawTarget = http.Features.Get<IHttpRequestFeature>()?.RawTarget ?? (http.Request.Path + http.Request.QueryString);
        RawTarget = rawTarget;
        var question = rawTarget.IndexOf('?');
        RawPath = question < 0 ? rawTarget : rawTarget[..question];
        RawQuery = question < 0 ? "" : rawTarget[(question + 1)..];
        // Split the path ourselves: Kestrel leaves %2F encoded, and a revision like refs%2Fpr%2F1 is one segment.
        RawSegments = RawPath.Split('/', StringSplitOptions.None).Skip(1).ToArray();
        if (RawSegments.Length > 0 && RawSegments[^1].Length == 0)
        {
            RawSegments = RawSegments[..^1];
        }
        Segments = [.. RawSegments.Select(Unescape)];
        Authorization = http.Request.Headers.Authorization.Count > 0 ? http.Request.Headers.Authorization.ToString() : null;
    }

    public HttpContext Http { get; }

    public HubState State { get; }

    /// <summary>Where this request's repositories come from: the server's store, unless a handler gave it another.</summary>
    public IRepoStore Store { get; set; }

    public string Listener { get; }

    public string RawTarget { get; }

    public string RawPath { get; }

    public string RawQuery { get; }

    public string[] RawSegments { get; }

    /// <summary>The path segments, each percent-decoded on its own (so a decoded segment may contain '/').</summary>
    public string[] Segments { get; }

    public string? Authorization { get; }

    public long BodyBytesSent { get; set; }

    /// <summary>Set when a fault cut the body short on purpose.</summary>
    public bool Aborted { get; set; }

    public bool IsHead => HttpMethods.IsHead(Http.Request.Method);

    public HttpResponse Response => Http.Response;

    public IQueryCollection Query => Http.Request.Query;

    /// <summary>The caller's user, null for anonymous; <see cref="HasInvalidToken"/> when a token was sent but is unknown.</summary>
    public HubUser? User { get; private set; }

    public bool HasInvalidToken { get; private set; }

    public bool HasToken => Authorization is not null;

    public string? Token { get; private set; }

    /// <summary>Faults in force for this request (the repo's, once the route found one).</summary>
    public HubFaults Faults { get; set; } = HubFaults.None;

    public void Authenticate()
    {
        if (Authorization is null)
        {
            return;
        }
        const string bearer = "Bearer ";
        if (Authorization.StartsWith(bearer, StringComparison.OrdinalIgnoreCase))
        {
            Token = Authorization[bearer.Length..].Trim();
            User = State.FindUser(Token);
            if (User is null && State.Options.TokensCheckedUpstream && Token.Length > 0)
            {
                // Another server (the mirror's upstream) decided what this token may see; here it is just a caller.
                User = new HubUser(Token, "", []);
            }
        }
        HasInvalidToken = User is null;
    }

    public bool QueryFlag(string name) => Query.TryGetValue(name, out var values) && values.Any(v => ParseBool(v));

    public static bool ParseBool(string? value) =>
        value is not null && (value.Equals("true", StringComparison.OrdinalIgnoreCase) || value == "1"
            || value.Equals("yes", StringComparison.OrdinalIgnoreCase) || value.Equals("on", StringComparison.OrdinalIgnoreCase));

    public void SetCommonHeaders()
    {
        var headers = Response.Headers;
        var trace = Http.Request.Headers["X-Amzn-Trace-Id"].ToString();
        var root = $"Root=1-{State.Now.ToUnixTimeSeconds():x8}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12))}";
        if (Listener == "hub")
        {
            headers["X-Request-Id"] = trace.Length > 0 ? root + ";" + trace : root;
            headers["X-Powered-By"] = "huggingface-moon";
            headers["Vary"] = "Origin";
            headers["Access-Control-Expose-Headers"] =
                "X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,X-Total-Count,ETag,Link,Accept-Ranges,Content-Range,X-Linked-Size,X-Linked-ETag,X-Xet-Hash";
        }
        else if (Listener == "cdn")
        {
            headers["X-Amz-Cf-Id"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(42));
            headers["x-amz-request-id"] = Convert.ToHexString(RandomNumberGenerator.GetBytes(8));
            headers["X-Amz-Cf-Pop"] = "LHR50-P1";
            headers["Via"] = "1.1 0f3e1a8b2c4d5e6f7a8b9c0d1e2f3a4b.cloudfront.net (CloudFront)";
        }
    }

    public void SetRateLimitHeaders(string bucket)
    {
        var (remaining, reset, quota) = State.CountRequest(bucket);
        Response.Headers["RateLimit"] = $"\"{bucket}\";r={remaining};t={reset}";
        Response.Headers["RateLimit-Policy"] = $"\"fixed window\";\"{bucket}\";q={quota};w=300";
    }

    /// <summary>Writes a whole small body with an exact Content-Length (nothing for HEAD).</summary>
    public async Task WriteBodyAsync(int status, string contentType, byte[] body, CancellationToken cancellationToken)
    {
        Response.StatusCode = status;
        Response.ContentType = contentType;
        Response.ContentLength = body.Length;
        if (!IsHead && body.Length > 0)
        {
            await Response.Body.WriteAsync(body, cancellationToken).ConfigureAwait(false);
            BodyBytesSent += body.Length;
        }
    }

    public Task WriteTextAsync(int status, string text, CancellationToken cancellationToken) =>
        WriteBodyAsync(status, "text/plain; charset=utf-8", Encoding.UTF8.GetBytes(text), cancellationToken);

    /// <summary>
    /// The Hub's JSON escapes only what JSON requires: '+', '\'' and non-ASCII go out as they are, not as <c>\u002B</c>,
    /// <c>\u0027</c>, <c>\u00FC</c>. Only for JSON answers, never for HTML (where the default encoder's escaping protects).
    /// </summary>
    private static readonly JsonWriterOptions ApiJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public Task WriteJsonAsync(int status, Action<Utf8JsonWriter> write, CancellationToken cancellationToken)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, ApiJson))
        {
            write(writer);
        }
        var body = buffer.WrittenSpan.ToArray();
        if (Faults.Hostile is { MalformedJson: true } && Listener == "hub")
        {
            body = body[..(body.Length / 2)];
        }
        Response.Headers.ETag = WeakEtag(body);
        return WriteBodyAsync(status, "application/json; charset=utf-8", body, cancellationToken);
    }

    /// <summary>
    /// The weak ETag the Hub's API answers carry (Express's: <c>W/"&lt;length in hex&gt;-&lt;first 27 base64 characters of
    /// the body's SHA-1&gt;"</c>); every recorded API answer, errors included, has one (fixtures/real-hub/README.md).
    /// </summary>
    internal static string WeakEtag(ReadOnlySpan<byte> body) =>
        $"W/\"{body.Length.ToString("x", CultureInfo.InvariantCulture)}-{Convert.ToBase64String(SHA1.HashData(body))[..27]}\"";

    /// <summary>
    /// An error as the Hub sends it: <c>X-Error-Message</c> (and <c>X-Error-Code</c>), with a JSON <c>{"error":…}</c>
    /// body on API routes and a text body on file routes.
    /// </summary>
    public Task WriteErrorAsync(int status, string message, string? errorCode, bool json, CancellationToken cancellationToken)
    {
        Response.Headers["X-Error-Message"] = HeaderText(message);
        if (errorCode is not null)
        {
            Response.Headers["X-Error-Code"] = errorCode;
        }
        return json
            ? WriteJsonAsync(status, w =>
            {
                w.WriteStartObject();
                w.WriteString("error", message);
                w.WriteEndObject();
            }, cancellationToken)
            : WriteTextAsync(status, message, cancellationToken);
    }

    /// <summary>
    /// <paramref name="text"/> as a header value: a message quotes what the client sent (a revision, a path), and Kestrel
    /// refuses any header with a non-ASCII or control character, which turned a 404 into a 500 (QA: a revision 'é').
    /// Such characters are written as <c>\uXXXX</c>; the body keeps the text as it is.
    /// </summary>
    internal static string HeaderText(string text)
    {
        if (!text.Any(c => c is < ' ' or > '~'))
        {
            return text;
        }
        var builder = new System.Text.StringBuilder(text.Length + 16);
        foreach (var c in text)
        {
            if (c is < ' ' or > '~')
            {
                builder.Append(System.Globalization.CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
            }
            else
            {
                builder.Append(c);
            }
        }
        return builder.ToString();
    }

    /// <summary>A redirect with the Hub's text/plain body ("Temporary Redirect. Redirecting to …").</summary>
    public Task WriteRedirectAsync(int status, string location, CancellationToken cancellationToken)
    {
        Response.Headers.Location = location;
        var reason = status switch
        {
            301 => "Moved Permanently",
            302 => "Found",
            303 => "See Other",
            308 => "Permanent Redirect",
            _ => "Temporary Redirect",
        };
        return WriteTextAsync(status, $"{reason}. Redirecting to {location}", cancellationToken);
    }

    public static string Unescape(string segment) => Uri.UnescapeDataString(segment);

    /// <summary>Escapes a repo path for a URL the way huggingface_hub does (<c>quote(path)</c>: '/' kept).</summary>
    public static string EscapePath(string path) => string.Join('/', path.Split('/').Select(Uri.EscapeDataString));

    public static string IsoDate(DateTimeOffset date) =>
        date.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    public static string Quote(string etag) => "\"" + etag + "\"";
}
