// Giving back the pages of a file mapping that the addon read once and no longer needs resident.
#pragma once

#include <cstddef>

namespace tracefleet {

// Takes the whole pages inside [addr, addr + size) out of this process's RSS when they lie in one file mapping
// (checked in /proc/self/maps): MADV_DONTNEED when no page of it was modified (read-only, or pagemap shows every
// present page is still the file's), which leaves the file's pages in the page cache and faults one back in,
// unchanged, on the next access; otherwise MADV_PAGEOUT, which reclaims only clean file pages that no other
// process maps and never changes what the memory holds. False when nothing was asked (not a file mapping, no
// whole page in the range) or the kernel refused.
bool ReleaseFilePages(const void* addr, size_t size);

}  // namespace tracefleet
