using System.Text.Json;
using System.Text.Json.Serialization;

namespace Hfdl.Core.Hub;

// The wire shapes of the Hub API (hub-api.md §3), shared by the client and by Hfdl.Hub. Unknown keys are ignored when
// reading; optional keys stay null when absent and are left out when writing.

/// <summary>An entry of <c>/tree</c> and <c>/paths-info</c>.</summary>
internal sealed record TreeEntry
{
    [JsonPropertyName("type")]
    public required string Type { get; init; }

    [JsonPropertyName("oid")]
    public string? Oid { get; init; }

    [JsonPropertyName("size")]
    public long Size { get; init; }

    [JsonPropertyName("path")]
    public required string Path { get; init; }

    [JsonPropertyName("lfs")]
    public LfsPointerInfo? Lfs { get; init; }

    [JsonPropertyName("xetHash")]
    public string? XetHash { get; init; }

    [JsonPropertyName("lastCommit")]
    public LastCommitInfo? LastCommit { get; init; }

    [JsonPropertyName("securityFileStatus")]
    public JsonElement? SecurityFileStatus { get; init; }

    [JsonIgnore]
    public bool IsFile => Type is "file" or "blob";

    [JsonIgnore]
    public bool IsDirectory => Type is "directory" or "tree";
}

internal sealed record LfsPointerInfo
{
    [JsonPropertyName("oid")]
    public required string Oid { get; init; }

    [JsonPropertyName("size")]
    public long Size { get; init; }

    [JsonPropertyName("pointerSize")]
    public long PointerSize { get; init; }
}

internal sealed record LastCommitInfo
{
    [JsonPropertyName("id")]
    public required string Id { get; init; }

    [JsonPropertyName("title")]
    public string? Title { get; init; }

    [JsonPropertyName("date")]
    public string? Date { get; init; }
}

/// <summary>A <c>siblings</c> entry of repo info; size and hashes only with <c>blobs=true</c>.</summary>
internal sealed record SiblingInfo
{
    [JsonPropertyName("rfilename")]
    public required string RFilename { get; init; }

    [JsonPropertyName("blobId")]
    public string? BlobId { get; init; }

    [JsonPropertyName("size")]
    public long? Size { get; init; }

    [JsonPropertyName("lfs")]
    public SiblingLfsInfo? Lfs { get; init; }
}

internal sealed record SiblingLfsInfo
{
    [JsonPropertyName("sha256")]
    public required string Sha256 { get; init; }

    [JsonPropertyName("size")]
    public long Size { get; init; }

    [JsonPropertyName("pointerSize")]
    public long? PointerSize { get; init; }
}

/// <summary>The fields of <c>/api/{type}s/{id}[/revision/{rev}]</c> a downloader reads.</summary>
internal sealed record RepoInfo
{
    [JsonPropertyName("_id")]
    public string? ObjectId { get; init; }

    [JsonPropertyName("id")]
    public required string Id { get; init; }

    [JsonPropertyName("author")]
    public string? Author { get; init; }

    [JsonPropertyName("sha")]
    public string? Sha { get; init; }

    [JsonPropertyName("lastModified")]
    public string? LastModified { get; init; }

    [JsonPropertyName("private")]
    public bool? Private { get; init; }

    /// <summary><c>false</c>, <c>"auto"</c> or <c>"manual"</c> on the wire; null here when not gated.</summary>
    [JsonPropertyName("gated")]
    [JsonConverter(typeof(GatedModeConverter))]
    public string? Gated { get; init; }

    [JsonPropertyName("disabled")]
    public bool? Disabled { get; init; }

    [JsonPropertyName("siblings")]
    public IReadOnlyList<SiblingInfo>? Siblings { get; init; }
}

internal sealed record GitRefInfo
{
    [JsonPropertyName("name")]
    public required string Name { get; init; }

    [JsonPropertyName("ref")]
    public required string Ref { get; init; }

    [JsonPropertyName("targetCommit")]
    public required string TargetCommit { get; init; }
}

internal sealed record RefsInfo
{
    [JsonPropertyName("branches")]
    public IReadOnlyList<GitRefInfo> Branches { get; init; } = [];

    [JsonPropertyName("tags")]
    public IReadOnlyList<GitRefInfo> Tags { get; init; } = [];

    [JsonPropertyName("converts")]
    public IReadOnlyList<GitRefInfo> Converts { get; init; } = [];

    [JsonPropertyName("pullRequests")]
    public IReadOnlyList<GitRefInfo>? PullRequests { get; init; }
}

/// <summary>An organisation of the account; every field may be absent or null, as any in the whoami answer but the account's name.</summary>
internal sealed record WhoAmIOrg
{
    [JsonPropertyName("name")]
    public string? Name { get; init; }

    [JsonPropertyName("fullname")]
    public string? FullName { get; init; }
}

internal sealed record WhoAmIInfo
{
    [JsonPropertyName("type")]
    public string? Type { get; init; }

    [JsonPropertyName("id")]
    public string? Id { get; init; }

    [JsonPropertyName("name")]
    public required string Name { get; init; }

    [JsonPropertyName("fullname")]
    public string? FullName { get; init; }

    [JsonPropertyName("email")]
    public string? Email { get; init; }

    /// <summary>
    /// Null when the answer has none: an organisation's or an app's token is answered without <c>orgs</c> (and a null
    /// entry stays null: the source generator sets what the JSON says, over any initial value).
    /// </summary>
    [JsonPropertyName("orgs")]
    public IReadOnlyList<WhoAmIOrg?>? Orgs { get; init; }

    [JsonPropertyName("auth")]
    public WhoAmIAuth? Auth { get; init; }
}

/// <summary>How the caller authenticated: for an access token, its name and role (never the token).</summary>
internal sealed record WhoAmIAuth
{
    [JsonPropertyName("type")]
    public string? Type { get; init; }

    [JsonPropertyName("accessToken")]
    public WhoAmIAccessToken? AccessToken { get; init; }
}

internal sealed record WhoAmIAccessToken
{
    [JsonPropertyName("displayName")]
    public string? DisplayName { get; init; }

    [JsonPropertyName("role")]
    public string? Role { get; init; }
}

/// <summary>Reads <c>gated</c>: <c>false</c> becomes null, a string stays as it is. Writes null as <c>false</c>.</summary>
internal sealed class GatedModeConverter : JsonConverter<string?>
{
    public override bool HandleNull => true;

    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType switch
        {
            JsonTokenType.String => reader.GetString(),
            JsonTokenType.True => "true",
            _ => null,
        };

    public override void Write(Utf8JsonWriter writer, string? value, JsonSerializerOptions options)
    {
        if (value is null)
        {
            writer.WriteBooleanValue(false);
        }
        else
        {
            writer.WriteStringValue(value);
        }
    }
}

[JsonSourceGenerationOptions(
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    ReadCommentHandling = JsonCommentHandling.Skip,
    AllowTrailingCommas = true)]
[JsonSerializable(typeof(TreeEntry))]
[JsonSerializable(typeof(List<TreeEntry>))]
[JsonSerializable(typeof(RepoInfo))]
[JsonSerializable(typeof(RefsInfo))]
[JsonSerializable(typeof(WhoAmIInfo))]
internal sealed partial class HubJsonContext : JsonSerializerContext;
