using System.Diagnostics.CodeAnalysis;

namespace Hfdl.Core.Hub;

/// <summary>
/// A repository id as the Hub knows it: <c>namespace/name</c>, or a legacy single segment such as <c>gpt2</c>.
/// Validation follows huggingface_hub's <c>validate_repo_id</c>: 1-96 characters of <c>[A-Za-z0-9._-]</c> with at
/// most one <c>/</c>, no <c>--</c> or <c>..</c>, no leading or trailing <c>-</c> or <c>.</c>, not ending in <c>.git</c>.
/// </summary>
public readonly record struct RepoId
{
    private readonly string? _value;

    private RepoId(string value) => _value = value;

    /// <summary>The id as the Hub writes it: <c>namespace/name</c>, or a legacy <c>name</c>; empty for <c>default(RepoId)</c>, which names no repo.</summary>
    public string Value => _value ?? "";

    /// <summary>The namespace (user or organisation), or null for a legacy single-segment id.</summary>
    public string? Namespace => Value.IndexOf('/') is var slash and >= 0 ? Value[..slash] : null;

    /// <summary>The name without its namespace.</summary>
    public string Name => Value.IndexOf('/') is var slash and >= 0 ? Value[(slash + 1)..] : Value;

    /// <summary>The id as the Hub writes it.</summary>
    public override string ToString() => Value;

    /// <summary>Reads a repo id; false when <paramref name="text"/> cannot be one.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out RepoId id) => TryParse(text, out id, out _);

    /// <summary>Reads a repo id; false, with what is wrong in <paramref name="problem"/>, when <paramref name="text"/> cannot be one.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out RepoId id, [NotNullWhen(false)] out string? problem)
    {
        id = default;
        problem = Validate(text);
        if (problem is not null)
        {
            return false;
        }
        id = new RepoId(text!);
        return true;
    }

    /// <summary>Reads a repo id, or throws <see cref="InvalidRepoIdException"/> saying what is wrong.</summary>
    public static RepoId Parse(string text) =>
        TryParse(text, out var id, out var problem)
            ? id
            : throw new InvalidRepoIdException(text, problem, urlsAccepted: false);

    private static string? Validate(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "it is empty";
        }
        if (text.Length > 96)
        {
            return "it is longer than 96 characters";
        }
        var slashes = 0;
        foreach (var c in text)
        {
            if (c == '/')
            {
                slashes++;
            }
            else if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
            {
                return $"it contains '{Printable(c)}'; only letters, digits, '.', '_', '-' and one '/' are allowed";
            }
        }
        if (slashes > 1)
        {
            return "it has more than one '/'; the form is 'namespace/name'";
        }
        foreach (var part in text.Split('/'))
        {
            if (part.Length == 0)
            {
                return "a part before or after '/' is empty";
            }
            if (part[0] is '-' or '.' || part[^1] is '-' or '.')
            {
                return "a part starts or ends with '-' or '.'";
            }
        }
        if (text.Contains("--", StringComparison.Ordinal) || text.Contains("..", StringComparison.Ordinal))
        {
            return "it contains '--' or '..'";
        }
        if (text.EndsWith(".git", StringComparison.OrdinalIgnoreCase))
        {
            return "it ends with '.git'";
        }
        return null;
    }

    private static string Printable(char c) => SafeText.Escape(c.ToString());
}
