"""syntraf-ctl: compile an Ansible inventory into a measured iperf3 mesh and deploy it."""
