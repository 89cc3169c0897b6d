module calibrate

go 1.24
