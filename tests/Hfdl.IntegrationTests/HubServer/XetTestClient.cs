using System.Net.Http.Headers;
using System.Text.Json;
using Hfdl.Core.Xet;
using Hfdl.Hub.Server;

namespace Hfdl.IntegrationTests.Hub;

/// <summary>
/// A small Xet reader built from the Core/Xet pieces, to check the server: resolve with the xet-fileinfo Accept,
/// token, reconstruction, plan, signed fetches (multipart for several ranges), decode, assemble.
/// </summary>
internal sealed class XetTestClient(HubServer server, string? hubToken = null) : IDisposable
{
    private readonly HttpClient _http = new(new SocketsHttpHandler { AllowAutoRedirect = false, AutomaticDecompression = System.Net.DecompressionMethods.None })
    {
        Timeout = TimeSpan.FromSeconds(60),
    };

    public void Dispose() => _http.Dispose();

    /// <summary>The xet-fileinfo answer of resolve: hash, refresh and reconstruction URLs, size.</summary>
    public async Task<XetFileInfoJson> FileInfoAsync(string repoPath, string path, string revision = "main")
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(server.Endpoint, $"{repoPath}/resolve/{revision}/{path}"));
        request.Headers.Accept.ParseAdd("application/vnd.xet-fileinfo+json, */*");
        Authorize(request, hubToken);
        using var response = await _http.SendAsync(request);
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("application/vnd.xet-fileinfo+json", response.Content.Headers.ContentType?.MediaType);
        return JsonSerializer.Deserialize(await response.Content.ReadAsByteArrayAsync(), XetJsonContext.Default.XetFileInfoJson)!;
    }

    public async Task<XetReadTokenJson> TokenAsync(string refreshUrl)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, refreshUrl);
        Authorize(request, hubToken);
        using var response = await _http.SendAsync(request);
        Assert.Equal(200, (int)response.StatusCode);
        return JsonSerializer.Deserialize(await response.Content.ReadAsByteArrayAsync(), XetJsonContext.Default.XetReadTokenJson)!;
    }

    public async Task<HttpResponseMessage> ReconstructionResponseAsync(string casUrl, string hash, string? token, string version = "v2", string? range = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"{casUrl}/{version}/reconstructions/{hash}");
        Authorize(request, token);
        if (range is not null)
        {
            request.Headers.TryAddWithoutValidation("Range", range);
        }
        return await _http.SendAsync(request);
    }

    public async Task<XetReconstruction> ReconstructionAsync(string casUrl, string hash, string token, string version = "v2", string? range = null)
    {
        using var response = await ReconstructionResponseAsync(casUrl, hash, token, version, range);
        Assert.Equal(200, (int)response.StatusCode);
        return XetReconstructionReader.Parse(await response.Content.ReadAsByteArrayAsync());
    }

    /// <summary>Fetches one fetch entry with all its ranges; returns each range's bytes.</summary>
    public async Task<List<byte[]>> FetchAsync(XetFetch fetch)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, fetch.Url);
        request.Headers.TryAddWithoutValidation("Range", fetch.RangeHeader);
        using var response = await _http.SendAsync(request);
        Assert.Equal(206, (int)response.StatusCode);
        var body = await response.Content.ReadAsByteArrayAsync();
        if (fetch.Ranges.Count == 1)
        {
            return [body];
        }
        var boundary = MultipartByteRanges.Boundary(response.Content.Headers.ContentType?.ToString());
        Assert.NotNull(boundary);
        var parts = MultipartByteRanges.Parse(body, boundary);
        Assert.Equal(fetch.Ranges.Select(r => (r.ByteStart, r.ByteEnd)), parts.Select(p => (p.Start, p.End)));
        return [.. parts.Select(p => body.AsSpan(p.DataOffset, p.DataLength).ToArray())];
    }

    /// <summary>Downloads a file (or bytes [first, last] of it) through Xet, as a client would.</summary>
    public async Task<byte[]> DownloadAsync(string repoPath, string path, long? first = null, long? last = null)
    {
        var info = await FileInfoAsync(repoPath, path);
        var token = await TokenAsync(info.RefreshUrl!);
        var range = first is null ? null : $"bytes={first}-{last}";
        var reconstruction = await ReconstructionAsync(token.CasUrl!, info.Hash!, token.AccessToken!, range: range);
        var length = first is null ? info.Size : Math.Min(last!.Value, info.Size - 1) - first.Value + 1;
        var plan = XetFilePlan.Create(reconstruction, length);
        var decoded = new List<List<XorbRangeChunks>>();
        for (var f = 0; f < plan.Fetches.Count; f++)
        {
            var bytes = await FetchAsync(plan.Fetches[f]);
            decoded.Add([.. bytes.Select((b, r) => XorbRangeDecoder.Decode(b, plan.Fetches[f].Ranges[r].ChunkCount, plan.MaxDecodedBytes(f, r)))]);
        }
        var output = new byte[plan.Length];
        foreach (var term in plan.Terms)
        {
            term.CopyTo(decoded[term.FetchIndex][term.RangeIndex], output.AsSpan((int)term.OutputOffset));
        }
        return output;
    }

    private static void Authorize(HttpRequestMessage request, string? token)
    {
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
    }
}
