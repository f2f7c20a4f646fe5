# The SD card's layout, shared by build.sh, assemble.sh, the bundle tools and the VM tests
# (sourced). MBR, not GPT: the Pi 3 and Zero 2 W boot ROMs read only an MBR. Sizes in MiB.
# Both root slots are the same size so any bundle fits either; the data partition starts
# small and grows to fill the card at first boot (pingan-grow-data.service).
DISK_ID=0x50494e47             # "PING": root=PARTUUID=50494e47-02 (slot A) / -03 (slot B)
FIRMWARE_START=4
FIRMWARE_MB=256                # Pi firmware, device trees, U-Boot, GRUB, grubenv (FAT32)
SLOT_MB=2048                   # each root slot; the root filesystem itself is smaller
DATA_MB=256                    # /var/lib/pingan-hub as built; grown at first boot
ROOT_A_START=$((FIRMWARE_START + FIRMWARE_MB))
ROOT_B_START=$((ROOT_A_START + SLOT_MB))
DATA_START=$((ROOT_B_START + SLOT_MB))
DISK_MB=$((DATA_START + DATA_MB))
