using System.Globalization;
using System.CommandLine;
using Iser.Cli.Client;
using Iser.Cli.CommandLine;
using Iser.Core.Iscsi.Initiator;

namespace Iser.Cli.Commands;

/// <summary>
/// `iser read URL --lba N --count N [-o FILE]`: reads COUNT blocks from LBA, into FILE or as a hex dump on stdout
/// (offsets relative to the first byte read; repeated lines shown as "*", as `hexdump -C` does).
/// </summary>
internal static class ReadCommand
{
    /// <summary>Bytes per READ command: big enough to stream, small enough to keep one buffer modest.</summary>
    internal const int ChunkBytes = 1 << 20;

    public static Command Create(CommandConsole console)
    {
        var urlArgument = TypedArguments.LunUrl();
        var lbaOption = TypedOptions.Long("--lba", "The first block to read.");
        lbaOption.Required = true;
        var countOption = TypedOptions.Long("--count", "How many blocks to read.", min: 1);
        countOption.Required = true;
        var output = TypedOptions.Text("--output", "Write the blocks to FILE instead of a hex dump on stdout.", "FILE", "-o");
        var client = new ClientCommandLine();
        var command = new Command("read", "Read blocks into FILE, or as a hex dump on stdout.") { urlArgument, lbaOption, countOption, output };
        client.AddTo(command);
        command.SetAction((parse, ct) => RunAsync(parse.GetValue(urlArgument)!, parse.GetValue(lbaOption)!.Value, parse.GetValue(countOption)!.Value,
            parse.GetValue(output), client.Read(parse), console, ct));
        return command;
    }

    private static async Task<int> RunAsync(IscsiUrl url, long lba, long count, string? outputPath, ClientOptions clientOptions, CommandConsole console, CancellationToken ct)
    {
        using var client = clientOptions;

        var session = await ClientConnection.ConnectAsync(client, url, console, ct).ConfigureAwait(false);
        await using (session.ConfigureAwait(false))
        {
            var lun = await ClientConnection.OpenLunAsync(session, url, ct).ConfigureAwait(false);
            if (lba + count > lun.BlockCount)
                throw new ArgumentException($"Blocks {lba}..{lba + count - 1} lie beyond the end of LUN {url.Lun} ({lun.BlockCount} blocks of {lun.BlockSize} bytes).");
            int blocksPerChunk = Math.Max(1, ChunkBytes / lun.BlockSize);
            var buffer = new byte[blocksPerChunk * lun.BlockSize];
            Stream? file = outputPath is null ? null : new FileStream(outputPath, FileMode.Create, FileAccess.Write, FileShare.Read);
            var dump = file is null ? new HexDump(console.Out) : null;
            await using (file)
            {
                for (long done = 0; done < count;)
                {
                    int blocks = (int)Math.Min(blocksPerChunk, count - done);
                    var chunk = buffer.AsMemory(0, blocks * lun.BlockSize);
                    await lun.ReadAsync(lba + done, chunk, ct).ConfigureAwait(false);
                    if (file is not null) await file.WriteAsync(chunk, ct).ConfigureAwait(false);
                    else dump!.Write(chunk.Span);
                    done += blocks;
                }
                dump?.Finish();
            }
            if (file is not null)
                console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"Read {count} blocks ({SizeText.Format(count * lun.BlockSize)}) from LBA {lba} into {outputPath}."));
        }
        return 0;
    }
}
