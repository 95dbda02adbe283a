"""syntraf-probe: one supervisor per mesh group that runs iperf3 and writes what the receiver measures."""
