using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hfdl.Core.Tests.Replay;

/// <summary>A request as the replay server received it.</summary>
public sealed record ReceivedRequest(string Method, string Target, string Host, IReadOnlyDictionary<string, string> Headers)
{
    public string? Authorization => Headers.GetValueOrDefault("Authorization");

    /// <summary>The path part of <see cref="Target"/>, still percent-encoded as sent.</summary>
    public string Path => Target.Split('?', 2)[0];

    public override string ToString() => $"{Method} {Host}{Target}";
}

/// <summary>What the replay server answers. <see cref="Writer"/>, when set, writes the body itself (streaming).</summary>
public sealed class ReplayResponse
{
    public int Status { get; init; } = 200;

    public List<KeyValuePair<string, string>> Headers { get; init; } = [];

    public byte[] Body { get; init; } = [];

    /// <summary>The Content-Length a HEAD answer announces (HEAD has no body to count).</summary>
    public long? HeadContentLength { get; init; }

    public Func<HttpResponse, CancellationToken, Task>? Writer { get; init; }

    public static ReplayResponse Text(int status, string body, params (string Name, string Value)[] headers) => new()
    {
        Status = status,
        Body = Encoding.UTF8.GetBytes(body),
        Headers = [new("Content-Type", "text/plain; charset=utf-8"), .. headers.Select(h => new KeyValuePair<string, string>(h.Name, h.Value))],
    };

    public static ReplayResponse Json(string body, params (string Name, string Value)[] headers) => new()
    {
        Status = 200,
        Body = Encoding.UTF8.GetBytes(body),
        Headers = [new("Content-Type", "application/json; charset=utf-8"), .. headers.Select(h => new KeyValuePair<string, string>(h.Name, h.Value))],
    };

    public static ReplayResponse Redirect(int status, string location, params (string Name, string Value)[] headers) =>
        Text(status, $"Temporary Redirect. Redirecting to {location}", [("Location", location), .. headers]);

    public static ReplayResponse NotRecorded(ReceivedRequest request) =>
        Text(599, $"The replay server has no answer for {request.Method} {request.Target}.");
}

/// <summary>
/// A Kestrel server on 127.0.0.1 with an ephemeral port, so the client under test goes through its real
/// <see cref="SocketsHttpHandler"/>. Answers with <see cref="Handler"/> and records every request.
/// </summary>
public sealed class ReplayServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedRequest> _requests = new();

    private ReplayServer(WebApplication app, Uri baseUri)
    {
        _app = app;
        BaseUri = baseUri;
    }

    /// <summary>http(s)://127.0.0.1:port</summary>
    public Uri BaseUri { get; }

    public int Port => BaseUri.Port;

    public Func<ReceivedRequest, ReplayResponse> Handler { get; set; } = ReplayResponse.NotRecorded;

    public IReadOnlyList<ReceivedRequest> Requests => [.. _requests];

    public void ClearRequests() => _requests.Clear();

    /// <summary>A URL on this server under another host name (same port): a different origin for the client.</summary>
    public Uri UrlAs(string host, string pathAndQuery) => new($"{BaseUri.Scheme}://{host}:{Port}{pathAndQuery}");

    public Uri Url(string pathAndQuery) => new(BaseUri, pathAndQuery);

    public static async Task<ReplayServer> StartAsync(Func<ReceivedRequest, ReplayResponse>? handler = null, X509Certificate2? certificate = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = typeof(ReplayServer).Assembly.GetName().Name });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(options =>
        {
            options.AddServerHeader = false;
            options.Listen(IPAddress.Loopback, 0, listen =>
            {
                if (certificate is not null)
                {
                    listen.UseHttps(certificate);
                }
            });
        });
        var app = builder.Build();
        ReplayServer? server = null;
        app.Run(context => server!.ServeAsync(context));
        await app.StartAsync().ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        server = new ReplayServer(app, new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal)));
        if (handler is not null)
        {
            server.Handler = handler;
        }
        return server;
    }

    private async Task ServeAsync(HttpContext context)
    {
        var target = context.Features.GetRequiredFeature<IHttpRequestFeature>().RawTarget;
        var headers = context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        var request = new ReceivedRequest(context.Request.Method, target, context.Request.Host.Value ?? "", headers);
        _requests.Enqueue(request);

        ReplayResponse answer;
        try
        {
            answer = Handler(request);
        }
        catch (Exception ex)
        {
            answer = ReplayResponse.Text(599, $"The replay handler failed: {ex}");
        }

        var response = context.Response;
        response.StatusCode = answer.Status;
        foreach (var (name, value) in answer.Headers)
        {
            response.Headers.Append(name, value);
        }
        if (answer.Writer is not null)
        {
            try
            {
                await answer.Writer(response, context.RequestAborted).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException)
            {
                // The client went away: that is what several tests provoke.
            }
            return;
        }
        if (HttpMethods.IsHead(request.Method))
        {
            response.ContentLength = answer.HeadContentLength ?? answer.Body.Length;
            return;
        }
        response.ContentLength = answer.Body.Length;
        await response.Body.WriteAsync(answer.Body, context.RequestAborted).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(stop.Token).ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>A self-signed certificate for 127.0.0.1 and localhost, for a TLS replay server.</summary>
    public static X509Certificate2 CreateSelfSignedCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=hfdl replay", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), null);
    }
}

/// <summary>Serves the interactions of a cassette, each once, in recorded order per method and target.</summary>
public sealed class CassetteReplay
{
    private static readonly HashSet<string> HopHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        // Computed by the server for the body actually sent (see the fixtures README), or per connection.
        "Content-Length", "Connection", "Transfer-Encoding", "Keep-Alive", "Date",
    };

    private readonly ConcurrentDictionary<string, ConcurrentQueue<Interaction>> _pending = new(StringComparer.Ordinal);
    private readonly Func<string, string> _rewriteLocation;

    /// <param name="interactions">The recorded interactions to serve.</param>
    /// <param name="server">The server that plays them: absolute <c>https://huggingface.co</c> Locations point to it.</param>
    /// <param name="rewriteLocation">Optional extra rewrite of each Location value.</param>
    public CassetteReplay(IEnumerable<Interaction> interactions, ReplayServer server, Func<string, string>? rewriteLocation = null)
    {
        var origin = server.BaseUri.GetLeftPart(UriPartial.Authority);
        _rewriteLocation = location =>
        {
            var rewritten = location.StartsWith("https://huggingface.co/", StringComparison.Ordinal)
                ? origin + location["https://huggingface.co".Length..]
                : location;
            return rewriteLocation is null ? rewritten : rewriteLocation(rewritten);
        };
        foreach (var interaction in interactions)
        {
            _pending.GetOrAdd(Key(interaction.Request.Method, interaction.Request.Uri.PathAndQuery), _ => new()).Enqueue(interaction);
        }
    }

    public int Remaining => _pending.Values.Sum(q => q.Count);

    private static string Key(string method, string target) => $"{method.ToUpperInvariant()} {target}";

    public ReplayResponse Answer(ReceivedRequest request)
    {
        if (!_pending.TryGetValue(Key(request.Method, request.Target), out var queue) || !queue.TryDequeue(out var interaction))
        {
            return ReplayResponse.NotRecorded(request);
        }
        return ToResponse(interaction.Response, _rewriteLocation);
    }

    public static ReplayResponse ToResponse(RecordedResponse recorded, Func<string, string>? rewriteLocation = null)
    {
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var (name, values) in recorded.Headers)
        {
            if (HopHeaders.Contains(name))
            {
                continue;
            }
            foreach (var value in values)
            {
                var v = rewriteLocation is not null && string.Equals(name, "Location", StringComparison.OrdinalIgnoreCase) ? rewriteLocation(value) : value;
                headers.Add(new(name, v));
            }
        }
        return new ReplayResponse
        {
            Status = recorded.Status.Code,
            Headers = headers,
            Body = Encoding.UTF8.GetBytes(recorded.Body.Text ?? ""),
        };
    }
}
