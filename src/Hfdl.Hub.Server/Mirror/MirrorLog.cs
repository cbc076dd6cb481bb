using System.Text;
using System.Text.Json;

namespace Hfdl.Hub.Mirror;

/// <summary>
/// The mirror's structured log: one JSON object per line (<c>time</c>, <c>event</c>, then the fields). Nothing here
/// ever receives a token: requests are logged by method, path, status and sizes, never by their headers.
/// </summary>
internal sealed class MirrorLog(TextWriter? writer, TimeProvider time)
{
    private readonly Lock _gate = new();

    public void Write(string @event, params (string Key, object? Value)[] fields)
    {
        if (writer is null)
        {
            return;
        }
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("time", time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture));
            json.WriteString("event", @event);
            foreach (var (key, value) in fields)
            {
                switch (value)
                {
                    case null:
                        json.WriteNull(key);
                        break;
                    case long number:
                        json.WriteNumber(key, number);
                        break;
                    case int number:
                        json.WriteNumber(key, number);
                        break;
                    case double number:
                        json.WriteNumber(key, Math.Round(number, 3));
                        break;
                    case bool flag:
                        json.WriteBoolean(key, flag);
                        break;
                    default:
                        json.WriteString(key, value.ToString());
                        break;
                }
            }
            json.WriteEndObject();
        }
        var line = Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
        lock (_gate)
        {
            try
            {
                writer.WriteLine(line);
                writer.Flush();
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException)
            {
                // Nobody reads the log any more (the terminal went away): the mirror keeps serving.
            }
        }
    }
}
