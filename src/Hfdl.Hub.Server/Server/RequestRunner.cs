using Microsoft.AspNetCore.Connections;

namespace Hfdl.Hub.Server;

/// <summary>Runs one request: catches what the client caused (it went away) and records the request in the log.</summary>
internal static class RequestRunner
{
    public static async Task RunAsync(HubRequest request, Func<HubRequest, CancellationToken, Task> handler)
    {
        var http = request.Http;
        var cancellationToken = http.RequestAborted;
        var aborted = false;
        request.State.Log.Started();
        try
        {
            await handler(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or ConnectionAbortedException or IOException
            && (cancellationToken.IsCancellationRequested || request.Aborted))
        {
            aborted = true;
        }
        catch (Exception ex) when (!http.Response.HasStarted)
        {
            // A bug in the fake must look like a server error, never like a 401/404 a client would treat as final.
            http.Response.Clear();
            request.SetCommonHeaders();
            await request.WriteErrorAsync(500, "Internal Error - " + ex.GetType().Name + ": " + ex.Message, null, json: true, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            request.State.Log.Add(new RecordedRequest(
                request.Listener,
                http.Request.Method,
                request.RawTarget,
                request.Authorization,
                http.Request.Headers.Range.Count > 0 ? http.Request.Headers.Range.ToString() : null,
                http.Response.StatusCode,
                request.BodyBytesSent)
            {
                Aborted = aborted || request.Aborted || cancellationToken.IsCancellationRequested,
                Headers = http.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase),
            });
            request.State.Log.Ended();
        }
    }
}
