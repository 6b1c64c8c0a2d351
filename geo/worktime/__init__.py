"""Working time: deadlines and durations in 紧急工时, 工作时 and 工作日 (GB/T 30428), on China's calendar."""
