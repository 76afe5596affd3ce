/* A test-only stand-in for Windows' ProcessPrng (bcryptprimitives.dll, Windows 10 and
 * later), which Rust's std asks for and Debian 12's wine 8.0 lacks: it answers with
 * RtlGenRandom (SystemFunction036). Built by dist/windows-tests.sh and
 * dist/slow-checks.sh beside what they run under wine; never shipped. */
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
