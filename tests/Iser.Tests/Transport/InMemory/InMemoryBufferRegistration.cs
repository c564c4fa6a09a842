using Iser.Core.Datamover;

namespace Iser.Tests.Transport.InMemory;

/// <summary>
/// The buffers one initiator command advertised (the in-memory counterpart of iSER's Read and Write STags): the
/// target's Put_Data copies into <c>read</c>, its Get_Data copies out of <c>write</c>. Every access names the key the
/// command was registered under, so a target still holding a registration after the initiator ended that command (or
/// reused the object for the next one) touches nothing. Kept in the initiator task's TransportState and reused.
/// </summary>
internal sealed class InMemoryBufferRegistration
{
    private readonly Lock _gate = new();
    private InMemoryConnection? _owner;
    private uint _key;
    private Memory<byte> _read;
    private ReadOnlyMemory<byte> _write;

    /// <summary>Registers the command's buffers on <paramref name="owner"/>; returns the key the command advertises.</summary>
    public uint Bind(InMemoryConnection owner, Memory<byte> read, ReadOnlyMemory<byte> write)
    {
        // A command re-issued on a new connection (session recovery) was never ended on the old one: drop that first.
        Release();
        uint key = owner.NewRegistrationKey();
        lock (_gate)
        {
            _owner = owner;
            _key = key;
            _read = read;
            _write = write;
        }
        owner.AddRegistration(key, this);
        return key;
    }

    /// <summary>Deallocate_Task_Resources: from now on the target can neither place nor fetch data for the command.</summary>
    public void Release()
    {
        InMemoryConnection? owner;
        uint key;
        lock (_gate)
        {
            owner = _owner;
            key = _key;
            _owner = null;
            _key = 0;
            _read = default;
            _write = default;
        }
        owner?.RemoveRegistration(key);
    }

    /// <summary>
    /// Copies read data to <paramref name="offset"/> of the command's read buffer. False when the command is no longer
    /// registered under <paramref name="key"/> (the initiator ended it); data beyond the buffer is a protocol error.
    /// </summary>
    public bool Place(uint key, ReadOnlySpan<byte> data, int offset)
    {
        lock (_gate)
        {
            if (key == 0 || key != _key) return false;
            if (offset < 0 || offset + data.Length > _read.Length)
                throw new DatamoverException(
                    $"Put_Data of {data.Length} bytes at offset {offset} runs past the initiator's {_read.Length}-byte read buffer (key {key}).");
            // Under the lock: EndTask cannot return (and the caller reuse its buffer) while this copy runs.
            data.CopyTo(_read.Span[offset..]);
            return true;
        }
    }

    /// <summary>Copies the start of the command's write buffer into <paramref name="destination"/>; false when no longer registered.</summary>
    public bool Fetch(uint key, Span<byte> destination)
    {
        lock (_gate)
        {
            if (key == 0 || key != _key) return false;
            if (destination.Length > _write.Length)
                throw new DatamoverException(
                    $"Get_Data of {destination.Length} bytes asks for more than the initiator's {_write.Length}-byte write buffer (key {key}).");
            _write.Span[..destination.Length].CopyTo(destination);
            return true;
        }
    }
}
