namespace Hfdl.Core.Tests.Replay;

/// <summary>
/// Finds the real recorded Hub answers: the copy kept in the repo (<c>tests/fixtures/real-hub</c>, taken from
/// <c>shared/fixtures/real-hub</c>), else a <c>shared/fixtures/real-hub</c> beside the repo. Missing fixtures fail the
/// tests; they are never skipped.
/// </summary>
public static class SharedFixtures
{
    private const string Relative = "shared/fixtures/real-hub";
    private const string InRepo = "tests/fixtures/real-hub";

    private static readonly Lazy<string> Root = new(Locate);

    public static string RealHub => Root.Value;

    public static string File(string relativePath)
    {
        var path = Path.Combine(RealHub, relativePath);
        if (!System.IO.File.Exists(path))
        {
            throw new FileNotFoundException($"The real-Hub fixture '{relativePath}' is missing from {RealHub}.", path);
        }
        return path;
    }

    public static string ReadText(string relativePath) => System.IO.File.ReadAllText(File(relativePath));

    private static string Locate()
    {
        if (Environment.GetEnvironmentVariable("HFDL_SHARED_DIR") is { Length: > 0 } explicitDir)
        {
            var candidate = Path.Combine(explicitDir, "fixtures", "real-hub");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
            throw new DirectoryNotFoundException($"HFDL_SHARED_DIR is set to '{explicitDir}', but it has no fixtures/real-hub folder.");
        }
        var tried = new List<string>();
        // Every ancestor of the test binaries: that covers the repo itself and the folders the repo was cloned into.
        foreach (var relative in new[] { InRepo, Relative })
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, relative);
                tried.Add(candidate);
                if (Directory.Exists(candidate))
                {
                    return candidate;
                }
            }
        }
        throw new DirectoryNotFoundException(
            "The real-Hub fixtures (shared/fixtures/real-hub) were not found. They are expected in a 'shared' folder beside " +
            "the repository or one of its parent folders, or in the folder named by HFDL_SHARED_DIR. Looked in: " +
            string.Join(", ", tried));
    }
}
