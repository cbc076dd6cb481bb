using System.Text.Json.Serialization;

namespace Hfdl.Core.Xet;

// The JSON shapes of Xet (spec api.md, auth.md, download-protocol.md; huggingface.js XetBlob.ts), used by the client
// to read and by Hfdl.Hub to write. Field names are the wire names; readers validate with XetReconstructionReader.

/// <summary><c>{"start":…,"end":…}</c>: a chunk range (end exclusive) or a byte range (end inclusive).</summary>
internal sealed record XetRangeJson
{
    [JsonPropertyName("start")]
    public long Start { get; init; }

    [JsonPropertyName("end")]
    public long End { get; init; }
}

/// <summary>A reconstruction term: chunks <c>range</c> of xorb <c>hash</c>, <c>unpacked_length</c> raw bytes in all.</summary>
internal sealed record XetTermJson
{
    [JsonPropertyName("hash")]
    public string? Hash { get; init; }

    [JsonPropertyName("unpacked_length")]
    public long UnpackedLength { get; init; }

    [JsonPropertyName("range")]
    public XetRangeJson? Range { get; init; }
}

/// <summary>A v1 fetch entry: a signed <c>url</c> for bytes <c>url_range</c> holding chunks <c>range</c>.</summary>
internal sealed record XetFetchInfoJson
{
    [JsonPropertyName("range")]
    public XetRangeJson? Range { get; init; }

    [JsonPropertyName("url")]
    public string? Url { get; init; }

    [JsonPropertyName("url_range")]
    public XetRangeJson? UrlRange { get; init; }
}

/// <summary>One signed range of a v2 fetch entry.</summary>
internal sealed record XetXorbRangeJson
{
    [JsonPropertyName("chunks")]
    public XetRangeJson? Chunks { get; init; }

    [JsonPropertyName("bytes")]
    public XetRangeJson? Bytes { get; init; }
}

/// <summary>A v2 fetch entry: one signed <c>url</c> for all its <c>ranges</c> (ascending).</summary>
internal sealed record XetXorbFetchJson
{
    [JsonPropertyName("url")]
    public string? Url { get; init; }

    [JsonPropertyName("ranges")]
    public List<XetXorbRangeJson>? Ranges { get; init; }
}

/// <summary>
/// <c>GET /v1/reconstructions/{file}</c> and <c>/v2/…</c> in one shape: v1 answers carry <c>fetch_info</c>, v2 answers
/// <c>xorbs</c>.
/// </summary>
internal sealed record XetReconstructionJson
{
    [JsonPropertyName("offset_into_first_range")]
    public long OffsetIntoFirstRange { get; init; }

    [JsonPropertyName("terms")]
    public List<XetTermJson>? Terms { get; init; }

    [JsonPropertyName("fetch_info")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, List<XetFetchInfoJson>>? FetchInfo { get; init; }

    [JsonPropertyName("xorbs")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, List<XetXorbFetchJson>>? Xorbs { get; init; }
}

/// <summary>The answer of <c>xet-read-token</c>: a CAS token, its expiry (Unix seconds) and the CAS base URL.</summary>
internal sealed record XetReadTokenJson
{
    [JsonPropertyName("accessToken")]
    public string? AccessToken { get; init; }

    [JsonPropertyName("exp")]
    public long Exp { get; init; }

    [JsonPropertyName("casUrl")]
    public string? CasUrl { get; init; }
}

/// <summary>
/// The body of a resolve answered for <c>Accept: application/vnd.xet-fileinfo+json</c>: the file's Xet hash, the token
/// and reconstruction URLs of its <c>Link</c> header, its ETag and size.
/// </summary>
internal sealed record XetFileInfoJson
{
    [JsonPropertyName("hash")]
    public string? Hash { get; init; }

    [JsonPropertyName("refreshUrl")]
    public string? RefreshUrl { get; init; }

    [JsonPropertyName("reconstructionUrl")]
    public string? ReconstructionUrl { get; init; }

    [JsonPropertyName("etag")]
    public string? Etag { get; init; }

    [JsonPropertyName("size")]
    public long Size { get; init; }
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(XetReconstructionJson))]
[JsonSerializable(typeof(XetReadTokenJson))]
[JsonSerializable(typeof(XetFileInfoJson))]
internal sealed partial class XetJsonContext : JsonSerializerContext;
