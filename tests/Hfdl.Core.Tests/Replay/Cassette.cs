using YamlDotNet.Serialization;

namespace Hfdl.Core.Tests.Replay;

/// <summary>A vcrpy cassette: recorded HTTP interactions, in the order they were made.</summary>
public sealed class Cassette
{
    [YamlMember(Alias = "interactions")]
    public List<Interaction> Interactions { get; set; } = [];

    [YamlMember(Alias = "version")]
    public int Version { get; set; }

    private static readonly IDeserializer Yaml = new DeserializerBuilder().IgnoreUnmatchedProperties().Build();

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<Cassette>> Cache = new(StringComparer.Ordinal);

    /// <summary>
    /// Loads a cassette from <c>shared/fixtures/real-hub</c>, e.g. <c>huggingface_hub-cassettes/X.yaml</c>. Parsed once
    /// per test run; treat the result as read-only.
    /// </summary>
    public static Cassette Load(string relativePath) =>
        Cache.GetOrAdd(relativePath, path => new Lazy<Cassette>(() => Parse(path))).Value;

    private static Cassette Parse(string relativePath)
    {
        var cassette = Yaml.Deserialize<Cassette>(SharedFixtures.ReadText(relativePath));
        if (cassette?.Interactions is not { Count: > 0 })
        {
            throw new InvalidDataException($"The cassette '{relativePath}' has no interactions.");
        }
        return cassette;
    }

    /// <summary>The interactions with huggingface.co itself (not inference providers or other hosts).</summary>
    public IEnumerable<Interaction> HubInteractions => Interactions.Where(i => i.Request.Uri.Host == "huggingface.co");
}

public sealed class Interaction
{
    [YamlMember(Alias = "request")]
    public RecordedRequest Request { get; set; } = new();

    [YamlMember(Alias = "response")]
    public RecordedResponse Response { get; set; } = new();

    public override string ToString() => $"{Request.Method} {Request.UriText} -> {Response.Status.Code}";
}

public sealed class RecordedRequest
{
    [YamlMember(Alias = "method")]
    public string Method { get; set; } = "";

    [YamlMember(Alias = "uri")]
    public string UriText { get; set; } = "";

    [YamlMember(Alias = "body")]
    public string? Body { get; set; }

    [YamlMember(Alias = "headers")]
    public Dictionary<string, List<string>> Headers { get; set; } = [];

    public Uri Uri => new(UriText);
}

public sealed class RecordedResponse
{
    [YamlMember(Alias = "status")]
    public RecordedStatus Status { get; set; } = new();

    [YamlMember(Alias = "headers")]
    public Dictionary<string, List<string>> Headers { get; set; } = [];

    [YamlMember(Alias = "body")]
    public RecordedBody Body { get; set; } = new();

    public string? Header(string name) =>
        Headers.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value?.FirstOrDefault();
}

public sealed class RecordedStatus
{
    [YamlMember(Alias = "code")]
    public int Code { get; set; }

    [YamlMember(Alias = "message")]
    public string? Message { get; set; }
}

public sealed class RecordedBody
{
    [YamlMember(Alias = "string")]
    public string? Text { get; set; }
}
