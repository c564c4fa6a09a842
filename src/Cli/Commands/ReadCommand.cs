using System.Globalization;
using Iser.Cli.Client;

namespace Iser.Cli.Commands;

/// <summary>
/// `iser read URL --lba N --count N [-o FILE]`: reads COUNT blocks from LBA, into FILE or as a hex dump on stdout
/// (offsets relative to the first byte read; repeated lines shown as "*", as `hexdump -C` does).
/// </summary>
internal static class ReadCommand
{
    /// <summary>Bytes per READ command: big enough to stream, small enough to keep one buffer modest.</summary>
    internal const int ChunkBytes = 1 << 20;

    public static async Task<int> RunAsync(ArgumentReader args, CommandConsole console, CancellationToken ct)
    {
        using var client = ClientOptions.Read(args);
        long lba = args.Long("--lba") ?? throw new UsageException("--lba is required.");
        long count = args.Long("--count") ?? throw new UsageException("--count is required (blocks).");
        if (count <= 0) throw new UsageException("--count must be at least 1.");
        string? outputPath = args.Value("-o", "--output");
        var url = PortalAddress.ParseLunUrl(DiscoverCommand.SinglePositional(args, "URL"));
        args.EnsureAllUsed();

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
