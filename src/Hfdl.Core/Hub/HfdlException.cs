namespace Hfdl;

/// <summary>
/// The root of every error hfdl reports on purpose. The message is a complete sentence for a user: what went wrong and
/// what to do next. It never contains a token, and it names no command-line option (a front end adds its own hints).
/// </summary>
public class HfdlException : Exception
{
    /// <summary>An error with a message for the user.</summary>
    public HfdlException(string message)
        : base(message)
    {
    }

    /// <summary>An error with a message for the user and the failure that caused it.</summary>
    public HfdlException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The text given cannot be a repository id.</summary>
/// <param name="input">The text as given.</param>
/// <param name="problem">What is wrong with it.</param>
/// <param name="urlsAccepted">The text could have been a Hub URL too (<see cref="Hfdl.Core.Hub.RepoReference.Parse"/>), not only an id (<see cref="Hfdl.Core.Hub.RepoId.Parse"/>).</param>
public sealed class InvalidRepoIdException(string? input, string problem, bool urlsAccepted = true)
    : HfdlException($"'{(input is null ? null : Hfdl.Core.Hub.SafeText.Printable(input))}' is not a valid repository id: {problem}. Use the form 'namespace/name' (for example 'openai-community/gpt2')"
        + (urlsAccepted ? ", a legacy id such as 'gpt2', or a URL such as https://huggingface.co/datasets/namespace/name." : " or a legacy id such as 'gpt2'; a Hub URL is read by RepoReference.Parse."))
{
    /// <summary>The text as given.</summary>
    public string? Input { get; } = input;

    /// <summary>What is wrong with it.</summary>
    public string Problem { get; } = problem;
}

/// <summary>
/// A setting hfdl was given cannot be used: an option of <see cref="Core.Transfer.DownloadOptions"/> out of range, an
/// environment variable that is not a number, a token with characters no token has, an empty filter pattern.
/// </summary>
public sealed class InvalidOptionException(string option, string requirement)
    : HfdlException($"{option} {requirement}")
{
    /// <summary>
    /// What was wrong: a property name of the options (<c>Threads</c>), an environment variable (<c>HF_HUB_ETAG_TIMEOUT</c>),
    /// or a description (<c>The token</c>).
    /// </summary>
    public string Option { get; } = option;

    /// <summary>What it must be, as the rest of the sentence (<c>must be between 1 and 256 (got 0).</c>).</summary>
    public string Requirement { get; } = requirement;
}
