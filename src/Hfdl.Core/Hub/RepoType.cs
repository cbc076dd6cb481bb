namespace Hfdl.Core.Hub;

/// <summary>The kind of repository on the Hub. Each kind has its own URL prefixes.</summary>
public enum RepoType
{
    /// <summary>A model (<c>/api/models</c>, no URL prefix).</summary>
    Model,

    /// <summary>A dataset (<c>/api/datasets</c>, <c>datasets/</c> in URLs).</summary>
    Dataset,

    /// <summary>A space (<c>/api/spaces</c>, <c>spaces/</c> in URLs).</summary>
    Space,
}

internal static class RepoTypes
{
    /// <summary>The plural used in API URLs: <c>/api/models/...</c>.</summary>
    public static string ApiSegment(this RepoType type) => type switch
    {
        RepoType.Model => "models",
        RepoType.Dataset => "datasets",
        RepoType.Space => "spaces",
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>The prefix of file URLs (<c>resolve</c>, <c>raw</c>): models have none.</summary>
    public static string FilePrefix(this RepoType type) => type switch
    {
        RepoType.Model => "",
        RepoType.Dataset => "datasets/",
        RepoType.Space => "spaces/",
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>The lower-case singular name used on the command line and in messages.</summary>
    public static string Name(this RepoType type) => type switch
    {
        RepoType.Model => "model",
        RepoType.Dataset => "dataset",
        RepoType.Space => "space",
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    public static bool TryParse(string? text, out RepoType type)
    {
        switch (text?.Trim().ToLowerInvariant())
        {
            case "model" or "models":
                type = RepoType.Model;
                return true;
            case "dataset" or "datasets":
                type = RepoType.Dataset;
                return true;
            case "space" or "spaces":
                type = RepoType.Space;
                return true;
            default:
                type = RepoType.Model;
                return false;
        }
    }
}
