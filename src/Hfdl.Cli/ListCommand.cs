using System.CommandLine;
using Hfdl.Hub;
using Hfdl.Transfer;

namespace Hfdl.Cli;

internal static class ListCommand
{
    public static Command Build(CliContext context)
    {
        var repo = new Argument<string>("REPO") { Description = "Repo id, Hub URL or hf:// URI." };
        var repoType = RepoOptions.RepoTypeOption();
        var revision = RepoOptions.RevisionOption();
        var connection = new HubConnectionOptions();
        var command = new Command("ls", "List the files of a revision: size, LFS or regular, and the hash hfdl verifies.");
        command.Arguments.Add(repo);
        command.Options.Add(repoType);
        command.Options.Add(revision);
        connection.AddTo(command);
        command.SetAction(async (result, cancellationToken) =>
        {
            var (type, id, rev) = RepoOptions.Resolve(result.GetValue(repo)!, result.GetValue(repoType), result.GetValue(revision));
            using var client = new HubClient(connection.Resolve(result, context.Environment));
            var downloader = new RepoDownloader(client, new DownloadOptions());
            var (commit, files) = await downloader.ListFilesAsync(type, id, rev ?? "main", cancellationToken).ConfigureAwait(false);
            context.Error.WriteLine($"{type.Name()} {id} at {rev ?? "main"} = commit {commit}: {files.Count} files, {Units.Bytes(files.Sum(f => f.Size))}");
            foreach (var file in files.OrderBy(f => f.Path, StringComparer.Ordinal))
            {
                context.Out.WriteLine($"{file.Size,14}  {(file.IsLfs ? "lfs" : "git"),-3}  {file.Hash}  {file.Path}");
            }
            return HfdlCommand.ExitOk;
        });
        return command;
    }
}
