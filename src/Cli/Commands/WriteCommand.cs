using System.Globalization;
using System.CommandLine;
using Iser.Cli.Client;
using Iser.Cli.CommandLine;
using Iser.Core.Iscsi.Initiator;

namespace Iser.Cli.Commands;

/// <summary>
/// `iser write URL --lba N -i FILE [--pad]`: writes FILE to the LUN from LBA. SCSI writes whole blocks, so a file
/// that does not end on a block boundary is refused unless --pad asks for zeros to fill the last block.
/// </summary>
internal static class WriteCommand
{
    public static Command Create(CommandConsole console)
    {
        var urlArgument = TypedArguments.LunUrl();
        var lbaOption = TypedOptions.Long("--lba", "The first block to write.");
        lbaOption.Required = true;
        var input = TypedOptions.Text("--input", "The file to write (whole blocks, unless --pad).", "FILE", "-i");
        input.Required = true;
        var padOption = TypedOptions.Flag("--pad", "Fill the last block with zeros when FILE does not end on a block boundary.");
        var client = new ClientCommandLine();
        var command = new Command("write", "Write FILE to the LUN from --lba.") { urlArgument, lbaOption, input, padOption };
        client.AddTo(command);
        command.SetAction((parse, ct) => RunAsync(parse.GetValue(urlArgument)!, parse.GetValue(lbaOption)!.Value, parse.GetValue(input)!,
            parse.GetValue(padOption), client.Read(parse), console, ct));
        return command;
    }

    private static async Task<int> RunAsync(IscsiUrl url, long lba, string inputPath, bool pad, ClientOptions clientOptions, CommandConsole console, CancellationToken ct)
    {
        using var client = clientOptions;

        await using var file = new FileStream(inputPath, FileMode.Open, FileAccess.Read, FileShare.Read);
        long length = file.Length;
        if (length == 0) throw new ArgumentException($"{inputPath} is empty; there is nothing to write.");

        var session = await ClientConnection.ConnectAsync(client, url, console, ct).ConfigureAwait(false);
        await using (session.ConfigureAwait(false))
        {
            var lun = await ClientConnection.OpenLunAsync(session, url, ct).ConfigureAwait(false);
            int blockSize = lun.BlockSize;
            long tail = length % blockSize;
            if (tail != 0 && !pad)
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                    $"{inputPath} is {length} bytes, not a whole number of {blockSize}-byte blocks ({tail} bytes over); add --pad to fill the last block with zeros."));
            long blocksTotal = (length + blockSize - 1) / blockSize;
            if (lba + blocksTotal > lun.BlockCount)
                throw new ArgumentException($"{blocksTotal} blocks from LBA {lba} do not fit on LUN {url.Lun} ({lun.BlockCount} blocks of {blockSize} bytes).");

            int blocksPerChunk = Math.Max(1, ReadCommand.ChunkBytes / blockSize);
            var buffer = new byte[blocksPerChunk * blockSize];
            for (long done = 0; done < blocksTotal;)
            {
                int blocks = (int)Math.Min(blocksPerChunk, blocksTotal - done);
                int bytes = blocks * blockSize;
                int filled = 0;
                while (filled < bytes)
                {
                    int n = await file.ReadAsync(buffer.AsMemory(filled, bytes - filled), ct).ConfigureAwait(false);
                    if (n == 0) break;
                    filled += n;
                }
                buffer.AsSpan(filled, bytes - filled).Clear(); // --pad: zeros after the end of the file
                await lun.WriteAsync(lba + done, buffer.AsMemory(0, bytes), ct).ConfigureAwait(false);
                done += blocks;
            }
            await lun.FlushAsync(ct).ConfigureAwait(false);
            string padded = tail != 0 ? string.Create(CultureInfo.InvariantCulture, $", last block padded with {blockSize - tail} zero bytes") : "";
            console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Wrote {blocksTotal} blocks ({SizeText.Format(length)}) at LBA {lba}{padded}."));
        }
        return 0;
    }
}
