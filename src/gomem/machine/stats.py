"""Read-only snapshots of the simulated machine (frozen dataclasses).

Observers (`observe`, `tour`, `cli`) read these, never internals.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MemoryReading:
    """One reading of a process's memory figures, as a probe would take it.

    Shared by the model and the real-kernel probe so the two line up.
    """

    vm_size_kb: int  # VmSize of /proc/<pid>/status: all VMAs, in kB
    rss_anon_kb: int  # RssAnon: resident anonymous frames, in kB
    minor_faults: int  # ru_minflt of getrusage: faults served without I/O


@dataclass(frozen=True, slots=True)
class MemoryStatus:
    """The memory lines of /proc/<pid>/status, in kB, plus fault and TLB counters."""

    vm_peak_kb: int  # VmPeak: high-water mark of VmSize
    vm_size_kb: int  # VmSize: sum of all VMA sizes (VSZ)
    vm_lck_kb: int  # VmLck: mlocked memory (always 0: mlock is not modelled)
    vm_pin_kb: int  # VmPin: pinned pages (always 0)
    vm_hwm_kb: int  # VmHWM: high-water mark of VmRSS
    vm_rss_kb: int  # VmRSS: RssAnon + RssFile + RssShmem
    rss_anon_kb: int  # RssAnon: resident anonymous frames; the zero page is not counted
    rss_file_kb: int  # RssFile: resident file pages (always 0: image pages are not faulted in)
    rss_shmem_kb: int  # RssShmem: shared memory (always 0)
    vm_data_kb: int  # VmData: private writable mappings that are not stacks
    vm_stk_kb: int  # VmStk: stack mappings (VM_GROWSDOWN)
    vm_exe_kb: int  # VmExe: the executable's text
    vm_lib_kb: int  # VmLib: other executable mappings
    vm_pte_kb: int  # VmPTE: page-table pages below the PML4 (PDPT, PD, PT)
    vm_swap_kb: int  # VmSwap: always 0 (no swap)
    minor_faults: int  # page faults served (zero-page maps, frame allocations, COW)
    tlb_hits: int  # translations served by the TLB
    tlb_misses: int  # translations that needed a page walk


@dataclass(frozen=True, slots=True)
class PhysicalStatus:
    """Physical memory of the machine."""

    total_frames: int  # frames the machine has
    used_frames: int  # frames allocated (data and page tables); the zero page excluded
    materialised_frames: int  # frames that hold real bytes (written at least once)
