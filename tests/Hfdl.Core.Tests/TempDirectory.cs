namespace Hfdl.Core.Tests;

/// <summary>A fresh folder under the system temp directory, deleted with everything in it on dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = Directory.CreateTempSubdirectory("hfdl-tests-").FullName;
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public string Write(string relative, string content)
    {
        var full = Combine(relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllText(full, content);
        return full;
    }

    /// <summary>An environment of <paramref name="variables"/> with HOME in this folder, so no real ~/.cache/huggingface is ever read.</summary>
    internal Hfdl.Core.Hub.HubEnvironment Environment(params (string Name, string? Value)[] variables)
    {
        var map = new Dictionary<string, string?> { ["HOME"] = Combine("home") };
        foreach (var (name, value) in variables)
        {
            map[name] = value;
        }
        return Hfdl.Core.Hub.HubEnvironment.FromDictionary(map);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
