Write-Output "report"
