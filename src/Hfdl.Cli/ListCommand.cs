using System.CommandLine;
using Hfdl.Cli.Output;
using Hfdl.Core.Hub;
using Hfdl.Core.Planning;
using Hfdl.Core.Transfer;
using Spectre.Console;

namespace Hfdl.Cli;

internal static class ListCommand
{
    public static Command Build(CliContext context)
    {
        var repo = new Argument<string>("REPO") { Description = "Repo id, Hub URL or hf:// URI." };
        var repoType = RepoOptions.RepoTypeOption();
        var revision = RepoOptions.RevisionOption();
        var include = FilterOptions.IncludeOption();
        var exclude = FilterOptions.ExcludeOption();
        var json = OutputOptions.JsonOption("Print the listing as one JSON object (schema, repo, revision, commit, files with path, size, lfs and hash).");
        var connection = new HubConnectionOptions();
        var command = new Command("ls", "List the files of a revision: size, LFS or regular, and the hash hfdl verifies. On a terminal a table; in a pipe one line per file: bytes, lfs or git, hash, path.");
        command.Arguments.Add(repo);
        command.Options.Add(repoType);
        command.Options.Add(revision);
        command.Options.Add(include);
        command.Options.Add(exclude);
        command.Options.Add(json);
        connection.AddTo(command);
        foreach (var (option, group) in new (Option, string)[] { (repoType, "What to list"), (revision, "What to list"), (include, "What to list"), (exclude, "What to list"), (json, "Output") })
        {
            option.Group(group);
        }
        connection.Group("Hub");
        HelpWriter.Examples(command,
            "hfdl ls openai-community/gpt2",
            "hfdl ls org/model --include '*.safetensors'         preview what --include would download",
            "hfdl ls org/model --json | jq '.files[].path'");
        command.SetAction(async (result, cancellationToken) =>
        {
            HubConnectionOptions.RefuseWhenOffline(context.Environment, "`hfdl ls` reads the file list from the Hub",
                "; `hfdl cache ls` shows what the Hugging Face cache holds without the network");
            var endpoint = HubConnectionOptions.EndpointOrNull(result.GetValue(connection.Endpoint), context.Environment);
            var (type, id, rev) = RepoOptions.Resolve(result.GetValue(repo)!, result.GetValue(repoType), result.GetValue(revision), endpoint);
            var revisionName = rev ?? "main";
            using var client = new HubClient(connection.Resolve(result, context.Environment, new RetryLines(context.Error)));
            var downloader = new RepoDownloader(client, new DownloadOptions());
            // The same selection step a download of this REPO and these patterns makes, so ls previews exactly what it would fetch.
            var (commit, selected) = await downloader.ListAsync(new DownloadRequest
            {
                RepoType = type,
                RepoId = id,
                Revision = rev,
                Files = RepoOptions.Selection(result.GetValue(repo)!, endpoint, [], (result.GetValue(include) ?? []).Length + (result.GetValue(exclude) ?? []).Length > 0),
                Include = result.GetValue(include) ?? [],
                Exclude = result.GetValue(exclude) ?? [],
                TargetFolder = ".",
            }, cancellationToken, withUnwritableNames: true).ConfigureAwait(false);
            var files = selected.OrderBy(f => f.Path, StringComparer.Ordinal).ToList();
            var totals = $"{type.Name()} {id} at {revisionName} = commit {commit}: {files.Count} files, {Units.Bytes(files.Sum(f => f.Size))} ({files.Count(f => f.IsLfs)} LFS)";

            if (result.GetValue(json))
            {
                new JsonEvents(context.Out).Write("listing", w =>
                {
                    w.WriteString("repo", id.ToString());
                    w.WriteString("repo_type", type.Name());
                    w.WriteString("revision", revisionName);
                    w.WriteString("commit", commit);
                    w.WriteNumber("total_bytes", files.Sum(f => f.Size));
                    w.WriteStartArray("files");
                    foreach (var file in files)
                    {
                        w.WriteStartObject();
                        w.WriteString("path", file.Path);
                        w.WriteNumber("size", file.Size);
                        w.WriteBoolean("lfs", file.IsLfs);
                        w.WriteString("hash", file.Hash.ToString());
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                });
            }
            else if (context.OutIsTerminal || context.OutConsole is not null)
            {
                var console = DownloadOutput.CreateOutConsole(context);
                var table = new Table().Border(ProgressView.TableBorderFor(console.Profile.Capabilities.Unicode))
                    .AddColumn("path")
                    .AddColumn(new TableColumn("size").RightAligned())
                    .AddColumn("storage")
                    .AddColumn("hash");
                foreach (var file in files)
                {
                    table.AddRow(TerminalText.Text(file.Path), new Text(Units.Bytes(file.Size)), new Text(file.IsLfs ? "LFS" : "regular"), new Text(file.Hash.ToString()));
                }
                table.Caption(TerminalText.Markup(totals));
                console.Write(table);
                return HfdlCommand.ExitOk;
            }
            else
            {
                foreach (var file in files)
                {
                    // Escaped here, not only by the writer: a line break in a name would otherwise start a line of its own.
                    context.Out.WriteLine($"{file.Size,14}  {(file.IsLfs ? "lfs" : "git"),-3}  {file.Hash}  {TerminalText.Escape(file.Path)}");
                }
            }
            context.Error.WriteLine(totals);
            return HfdlCommand.ExitOk;
        });
        return command;
    }
}
