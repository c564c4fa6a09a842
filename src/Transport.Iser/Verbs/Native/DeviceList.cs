using System.Runtime.InteropServices;

namespace Iser.Transport.Iser.Verbs.Native;

/// <summary>Walks ibv_get_device_list's NULL-terminated array; always frees it.</summary>
internal static unsafe class DeviceList
{
    /// <summary>Device names; errno is non-zero when the list could not be read.</summary>
    internal static List<string> ReadNames(out int errno)
    {
        List<string> names = [];
        errno = Visit((device, name) =>
        {
            names.Add(name);
            return false;
        });
        return names;
    }

    /// <summary>
    /// Calls <paramref name="visitor"/> for each device until it returns true. Returns 0, or the
    /// errno of a failed ibv_get_device_list.
    /// </summary>
    internal static int Visit(Func<IntPtr, string, bool> visitor)
    {
        int count = 0;
        IntPtr list = LibIbverbs.ibv_get_device_list(&count);
        if (list == IntPtr.Zero)
        {
            int errno = Marshal.GetLastPInvokeError();
            return errno == 0 ? 19 /* ENODEV */ : errno;
        }

        try
        {
            IntPtr* devices = (IntPtr*)list;
            for (int i = 0; i < count && devices[i] != IntPtr.Zero; i++)
            {
                string name = Marshal.PtrToStringUTF8(LibIbverbs.ibv_get_device_name(devices[i])) ?? $"device{i}";
                if (visitor(devices[i], name))
                {
                    break;
                }
            }
        }
        finally
        {
            LibIbverbs.ibv_free_device_list(list);
        }

        return 0;
    }
}
