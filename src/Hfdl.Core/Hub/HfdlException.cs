namespace Hfdl;

/// <summary>
/// The root of every error hfdl reports on purpose. The message is a complete sentence for a user: what went wrong and
/// what to do next. It never contains a token.
/// </summary>
public class HfdlException : Exception
{
    public HfdlException(string message)
        : base(message)
    {
    }

    public HfdlException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The exit code the CLI uses for this error.</summary>
    public virtual int ExitCode => 1;
}

/// <summary>The user gave something that cannot be a repository id.</summary>
public sealed class InvalidRepoIdException(string? input, string problem)
    : HfdlException($"'{input}' is not a valid repository id: {problem}. Use the form 'namespace/name' (for example 'openai-community/gpt2'), a legacy id such as 'gpt2', or a URL such as https://huggingface.co/datasets/namespace/name.")
{
    public string? Input { get; } = input;

    public string Problem { get; } = problem;

    public override int ExitCode => 2;
}

/// <summary>A problem in how hfdl was invoked (a conflicting option, a bad value).</summary>
public sealed class UsageException(string message) : HfdlException(message)
{
    public override int ExitCode => 2;
}
